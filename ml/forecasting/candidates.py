"""Every candidate model behind one call: fit on a training series, forecast the next days, clip at 0.

Candidates (names.py): ``prophet`` (model.py), ``ets`` and ``theta`` (classical.py), ``combination`` (the
plain mean of the three), and the two baselines ``seasonal_naive`` (the last observed week repeated) and
``moving_average_28d`` (the mean of the last 28 days, flat). The backtest (backtest.py) scores them all on the
same folds; the forecast table (forecast.py) fits only the one chosen for a series (the combination: its
members).

Non-negativity. Revenue and units cannot be negative, but the models are additive and can go below 0 on a
quiet day of a small category. Forecasts and in-sample fits are clipped at 0; the backtests score the clipped
forecast, so the metrics describe what the table shows. A model whose fit fails (statsmodels raises on some
degenerate series) gives NaN, scores NaN and cannot be chosen; the failure is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from ml.forecasting.classical import Prediction, ets, moving_average, seasonal_naive, theta
from ml.forecasting.model import ForecastSettings, fit_prophet, predict_prophet
from ml.forecasting.names import (
    COMBINATION,
    COMBINATION_MEMBERS,
    ETS,
    MOVING_AVERAGE,
    PROPHET,
    SEASONAL_NAIVE,
    THETA,
)

logger = logging.getLogger(__name__)

ArrayModel = Callable[[np.ndarray, int, bool], Prediction]
ARRAY_MODELS: dict[str, ArrayModel] = {
    ETS: ets,
    THETA: theta,
    SEASONAL_NAIVE: seasonal_naive,
    MOVING_AVERAGE: moving_average,
}


def fits_needed(models: Iterable[str]) -> list[str]:
    """The models to fit for ``models``: a combination needs its members (each fitted once)."""
    needed: list[str] = []
    for name in models:
        for model in COMBINATION_MEMBERS if name == COMBINATION else (name,):
            if model not in needed:
                needed.append(model)
    return needed


def _prophet(history: pd.DataFrame, horizon: int, in_sample: bool, settings: ForecastSettings,
             holidays: pd.DataFrame) -> Prediction:
    model = fit_prophet(history, settings, holidays)
    last = pd.Timestamp(history["ds"].max())
    future = pd.Series(pd.date_range(last + pd.Timedelta(days=1), periods=horizon, freq="D"))
    dates = pd.concat([history["ds"], future], ignore_index=True) if in_sample else future
    values = predict_prophet(model, dates)
    return Prediction(values[-horizon:], values[:-horizon] if in_sample else None)


def _fit(name: str, history: pd.DataFrame, horizon: int, in_sample: bool, settings: ForecastSettings,
         holidays: pd.DataFrame | None) -> Prediction:
    if name == PROPHET:
        if holidays is None:
            raise ValueError("Prophet needs the holiday table")
        return _prophet(history, horizon, in_sample, settings, holidays)
    y = history["y"].to_numpy(dtype=float)
    try:
        return ARRAY_MODELS[name](y, horizon, in_sample)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as error:
        logger.warning("%s failed to fit %d days (%s): no forecast from it", name, y.size, error)
        return Prediction(np.full(horizon, np.nan), np.full(y.size, np.nan) if in_sample else None)


def _clipped(prediction: Prediction) -> Prediction:
    fitted = None if prediction.fitted is None else np.clip(prediction.fitted, 0.0, None)
    return Prediction(np.clip(prediction.forecast, 0.0, None), fitted)


def predict_candidates(
    history: pd.DataFrame,
    horizon: int,
    models: Iterable[str],
    settings: ForecastSettings,
    holidays: pd.DataFrame | None = None,
    in_sample: bool = False,
) -> dict[str, Prediction]:
    """Fit each of ``models`` on ``history`` (columns ds, y: dense days) and forecast ``horizon`` days, clipped.

    ``in_sample`` adds each model's fit of the history days. ``holidays`` is needed when Prophet is fitted.
    """
    wanted = list(models)
    fitted = {name: _clipped(_fit(name, history, horizon, in_sample, settings, holidays))
              for name in fits_needed(wanted)}
    if COMBINATION in wanted:
        members = [fitted[name] for name in COMBINATION_MEMBERS]
        in_sample_mean = (
            np.mean([m.fitted for m in members], axis=0) if in_sample and all(m.fitted is not None for m in members)
            else None
        )
        fitted[COMBINATION] = Prediction(np.mean([m.forecast for m in members], axis=0), in_sample_mean)
    return {name: fitted[name] for name in wanted}
