"""The candidate forecast models' names, which of them are baselines, and the order that breaks ties."""

from __future__ import annotations

PROPHET = "prophet"
ETS = "ets"
THETA = "theta"
COMBINATION = "combination"
SEASONAL_NAIVE = "seasonal_naive"
MOVING_AVERAGE = "moving_average_28d"

MODELS: tuple[str, ...] = (PROPHET, ETS, THETA, COMBINATION, SEASONAL_NAIVE, MOVING_AVERAGE)
BASELINES: tuple[str, ...] = (SEASONAL_NAIVE, MOVING_AVERAGE)
# The combination is the plain mean of these members' forecasts (fixed: no weights learnt from the folds it is
# scored on).
COMBINATION_MEMBERS: tuple[str, ...] = (PROPHET, ETS, THETA)
# Equal backtest MASE: the simpler model wins (fewer parameters, cheaper, easier to explain).
SIMPLICITY: tuple[str, ...] = (SEASONAL_NAIVE, MOVING_AVERAGE, THETA, ETS, PROPHET, COMBINATION)
