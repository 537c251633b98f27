"""The classical candidates: ETS and Theta (statsmodels) with last year's profile, and the baselines' in-sample fit.

Each function takes a dense daily training series ``y`` (oldest first) and returns a :class:`Prediction`: the
forecast of the ``horizon`` days after its last day and, when asked, the in-sample fit of its own days
(one-step-ahead values: what the model said the day before). Values are not clipped here (candidates.py clips).

- ETS: Holt-Winters exponential smoothing with an additive damped trend and an additive weekly seasonality,
  ETS(A,Ad,A), statsmodels' ``holtwinters.ExponentialSmoothing``. Initial states come from the heuristic of
  Hyndman et al. (2008) and only the smoothing parameters are optimised, by least squares on the one-step
  errors. statsmodels' defaults (estimated initial states, a brute-force start, SLSQP) took about 0.5 s a
  fit on the sample's folds, heuristic states with SLSQP 80 ms and with least squares 20 ms, for the same
  backtest MASE (mean over the 19 series within 0.01).
- Theta: statsmodels' ``ThetaModel`` with period 7 (the standard theta = 2 method: SES plus half the linear
  trend, on the deseasonalised series). Deseasonalisation is always additive and always applied: daily sales
  have days at 0, which a multiplicative decomposition cannot take, and a shop's week is seasonal (skipping
  statsmodels' seasonality test also keeps the in-sample fit below exact).
- Yearly pattern: neither model can carry a 365-day season on daily data (ETS would need 365 seasonal states
  from two years). Their forecast is multiplied by last year's profile instead: ``f(h) = m(T + h - 364) /
  m(T - 364)``, where m is the 28-day centred mean of the training series and T its last day, i.e. how much
  the same weeks last year were above or below the weeks around the origin (364 days keep the weekday). It
  needs a year plus a window of history (MIN_YEARLY_PROFILE_DAYS) and a non-zero level at T - 364; otherwise
  the factor is 1. On the sample's backtests the profile took ETS from a mean MASE of 1.03 to 0.95 over the
  19 series (the December fold most).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.holtwinters import ExponentialSmoothing
from statsmodels.tsa.seasonal import seasonal_decompose

from ml.forecasting.metrics import (
    MOVING_AVERAGE_DAYS,
    SEASON_LENGTH,
    moving_average_forecast,
    seasonal_naive_forecast,
)
from ml.forecasting.quiet import quiet_statsmodels

logger = logging.getLogger(__name__)

YEARLY_LAG_DAYS = 364  # 52 weeks: the same weekday a year before
YEARLY_WINDOW_DAYS = 28
MIN_YEARLY_PROFILE_DAYS = YEARLY_LAG_DAYS + YEARLY_WINDOW_DAYS
THETA = 2.0


@dataclass(frozen=True)
class Prediction:
    forecast: np.ndarray  # the horizon days after the training series
    fitted: np.ndarray | None = None  # one value per training day, when asked for


def yearly_profile(y: np.ndarray, horizon: int) -> np.ndarray:
    """Last year's profile f(1..horizon) around the origin (see the module docstring); 1 where undefined."""
    y = np.asarray(y, dtype=float)
    if y.size < MIN_YEARLY_PROFILE_DAYS:
        return np.ones(horizon)
    smooth = (
        pd.Series(y).rolling(YEARLY_WINDOW_DAYS, center=True, min_periods=YEARLY_WINDOW_DAYS // 2).mean().to_numpy()
    )
    origin = y.size - 1 - YEARLY_LAG_DAYS
    base = smooth[origin]
    if not base > 0:
        return np.ones(horizon)
    days = origin + np.arange(1, horizon + 1)
    factor = np.full(horizon, np.nan)
    inside = days < y.size
    factor[inside] = smooth[days[inside]] / base
    return np.nan_to_num(factor, nan=1.0)


def ets(y: np.ndarray, horizon: int, in_sample: bool = False) -> Prediction:
    """ETS(A,Ad,A) with weekly seasonality, times last year's profile."""
    y = np.asarray(y, dtype=float)
    with quiet_statsmodels():
        fit = ExponentialSmoothing(
            y,
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=SEASON_LENGTH,
            initialization_method="heuristic",
        ).fit(use_brute=False, method="least_squares")
        forecast = np.asarray(fit.forecast(horizon), dtype=float) * yearly_profile(y, horizon)
    return Prediction(forecast, np.asarray(fit.fittedvalues, dtype=float) if in_sample else None)


def theta(y: np.ndarray, horizon: int, in_sample: bool = False) -> Prediction:
    """The theta method on the additively deseasonalised series (period 7), times last year's profile."""
    y = np.asarray(y, dtype=float)
    if np.ptp(y) == 0:
        # statsmodels' trend regression drops its constant on a constant series and returns a slope; the
        # theta forecast of a constant is that constant.
        return Prediction(np.full(horizon, y[-1]), y.copy() if in_sample else None)
    with quiet_statsmodels():
        fit = ThetaModel(y, period=SEASON_LENGTH, deseasonalize=True, use_test=False, method="additive").fit()
        forecast = np.asarray(fit.forecast(horizon, theta=THETA), dtype=float) * yearly_profile(y, horizon)
        fitted = _theta_in_sample(y, float(fit.params["alpha"]), float(fit.params["b0"])) if in_sample else None
    return Prediction(forecast, fitted)


def _theta_in_sample(y: np.ndarray, alpha: float, b0: float) -> np.ndarray:
    """One-step-ahead theta values of the training days, with the parameters fitted on all of them.

    The forecast of statsmodels' ThetaModel from an origin after n days, one step ahead, is the SES level of
    the deseasonalised series plus (1 - 1/theta) b0 (1/alpha - (1 - alpha)^n / alpha), reseasonalised; here for
    every n at once (SES as a linear filter, started at the first value as statsmodels does).
    """
    seasonal = seasonal_decompose(y, model="additive", period=SEASON_LENGTH).seasonal
    x = y - seasonal
    # SES one step ahead: level(t) = alpha x(t-1) + (1 - alpha) level(t-1), level(0) = x(0).
    level = np.empty_like(x)
    level[0] = x[0]
    if x.size > 1:
        level[1:], _ = lfilter([alpha], [1.0, alpha - 1.0], x[:-1], zi=[(1.0 - alpha) * x[0]])
    n = np.arange(x.size, dtype=float)
    drift = (1.0 - 1.0 / THETA) * b0 * (1.0 / alpha - (1.0 - alpha) ** n / alpha) if alpha > 0 else 0.0
    return level + drift + seasonal


def seasonal_naive(y: np.ndarray, horizon: int, in_sample: bool = False) -> Prediction:
    """Same weekday last week; in sample the value 7 days before (the first week, with none before, as is)."""
    y = np.asarray(y, dtype=float)
    fitted = np.concatenate([y[:SEASON_LENGTH], y[:-SEASON_LENGTH]])[: y.size] if in_sample else None
    return Prediction(seasonal_naive_forecast(y, horizon), fitted)


def moving_average(y: np.ndarray, horizon: int, in_sample: bool = False) -> Prediction:
    """Mean of the last 28 days, flat; in sample the mean of the (up to) 28 days before (the first day as is)."""
    y = np.asarray(y, dtype=float)
    fitted = None
    if in_sample:
        fitted = pd.Series(y).shift(1).rolling(MOVING_AVERAGE_DAYS, min_periods=1).mean().to_numpy(copy=True)
        fitted[0] = y[0]
    return Prediction(moving_average_forecast(y, horizon), fitted)
