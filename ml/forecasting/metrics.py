"""Forecast accuracy metrics and the two baselines Prophet is compared with.

Definitions (y = actual, f = forecast, over the n days of a test window):

- MAE = mean(|y - f|).
- MAPE = 100 * mean(|y - f| / |y|) over the days with y != 0 only: a day without sales has no percentage
  error (division by zero), so it is skipped rather than counted as infinite or as 0. NaN when every actual
  is 0 (then MAPE says nothing; MASE and sMAPE still do).
- sMAPE = 100 * mean(2 |y - f| / (|y| + |f|)), between 0 and 200; a day where both are 0 is a perfect
  forecast and counts as 0.
- MASE = MAE / scale, where scale = the in-sample MAE of the seasonal-naive forecast with lag 7,
  mean(|y_t - y_{t-7}|) over the training series (Hyndman & Koehler 2006, seasonal variant). Below 1 the
  forecast beats, on the test window, what "same weekday last week" achieved one step ahead on the
  training data; the scale is the same for every model of a fold, so models compare directly. NaN when the
  training series is constant with period 7 (scale 0).

Baselines, forecasting h = 1..H days after the origin T from the training series alone:

- seasonal naive: y_hat(T + h) = y(T + h - 7k) with k = ceil(h / 7), i.e. the last observed week repeated
  ("same weekday last week").
- moving average: the mean of the last 28 training days, flat over the horizon.
"""

from __future__ import annotations

import numpy as np

SEASON_LENGTH = 7
MOVING_AVERAGE_DAYS = 28


def _arrays(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    if y.shape != f.shape:
        raise ValueError(f"actual and forecast differ in shape: {y.shape} vs {f.shape}")
    return y, f


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    y, f = _arrays(actual, forecast)
    return float(np.mean(np.abs(y - f))) if y.size else float("nan")


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error in percent, over the days whose actual is not 0."""
    y, f = _arrays(actual, forecast)
    nonzero = y != 0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(y[nonzero] - f[nonzero]) / np.abs(y[nonzero])))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200); a day with actual and forecast both 0 counts as 0."""
    y, f = _arrays(actual, forecast)
    if not y.size:
        return float("nan")
    denominator = np.abs(y) + np.abs(f)
    terms = np.divide(2.0 * np.abs(y - f), denominator, out=np.zeros_like(y), where=denominator > 0)
    return float(100.0 * np.mean(terms))


def seasonal_naive_scale(train: np.ndarray, season: int = SEASON_LENGTH) -> float:
    """In-sample MAE of the seasonal-naive forecast: mean(|y_t - y_{t-season}|) over the training series."""
    y = np.asarray(train, dtype=float)
    if y.size <= season:
        return float("nan")
    return float(np.mean(np.abs(y[season:] - y[:-season])))


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int = SEASON_LENGTH) -> float:
    """Mean absolute scaled error: test MAE over the training series' seasonal-naive (lag ``season``) MAE."""
    scale = seasonal_naive_scale(train, season)
    if not scale > 0:
        return float("nan")
    return mae(actual, forecast) / scale


def seasonal_naive_forecast(train: np.ndarray, horizon: int, season: int = SEASON_LENGTH) -> np.ndarray:
    """The last observed ``season`` days repeated over ``horizon`` days (same weekday last week)."""
    y = np.asarray(train, dtype=float)
    if y.size < season:
        raise ValueError(f"seasonal naive needs at least {season} training days, got {y.size}")
    return np.resize(y[-season:], horizon)


def moving_average_forecast(train: np.ndarray, horizon: int, window: int = MOVING_AVERAGE_DAYS) -> np.ndarray:
    """The mean of the last ``window`` training days, flat over ``horizon`` days."""
    y = np.asarray(train, dtype=float)
    if y.size == 0:
        raise ValueError("moving average needs at least one training day")
    return np.full(horizon, float(np.mean(y[-window:])))


def accuracy(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray) -> dict[str, float]:
    """MAE, MAPE, sMAPE and MASE of one forecast over one test window."""
    return {
        "mae": mae(actual, forecast),
        "mape": mape(actual, forecast),
        "smape": smape(actual, forecast),
        "mase": mase(actual, forecast, train),
    }
