"""The settings every forecast model shares, the model version, and the Prophet candidate.

Prophet. One model per series: linear trend, weekly seasonality, yearly seasonality (Fourier order
YEARLY_FOURIER_ORDER, from one full year of history on), additive seasonality, the holiday table of
holidays.py, MAP fit (deterministic: Prophet computes its initial values from the data and L-BFGS has no
randomness; CmdStan gets a fixed seed all the same). The trend is kept stiff (changepoint prior 0.01 rather
than Prophet's 0.05) and holiday effects shrunk (prior scale 1 rather than 10): daily sales of a small shop
are noisy. On the sample's backtests a few candidate settings (additive or multiplicative seasonality,
changepoint prior 0.05 or 0.01, yearly order 5 or 10, holiday prior 1 or 10) were within a few hundredths of
MASE of each other on the shop's revenue; additive with the stiffer trend beat the 28-day average on the most
series and fits fastest.

Prophet is one candidate among several (candidates.py); the published forecast of a series is the candidate
with the lowest backtest MASE (selection.py). Its own simulated intervals are not drawn: every candidate's 80 %
interval is calibrated the same way, from its backtest errors (intervals.py), so Prophet is fitted without
uncertainty samples (and numpy's global generator is never touched).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ml.forecasting.holidays import holiday_table
from ml.forecasting.names import MODELS
from ml.forecasting.quiet import import_prophet, quiet_warnings

logger = logging.getLogger(__name__)

HORIZON_DAYS = 90
INTERVAL_WIDTH = 0.8
SEED = 20251231
SEASONALITY_MODE = "additive"
YEARLY_FOURIER_ORDER = 10
CHANGEPOINT_PRIOR_SCALE = 0.01
HOLIDAYS_PRIOR_SCALE = 1.0
SEASONALITY_PRIOR_SCALE = 10.0
VERSION_PREFIX = "forecast"

# Yearly seasonality is fitted only on at least a full year of history: with less, its Fourier terms are
# extrapolated over days of the year never seen and a forecast can swing wildly. Prophet itself only turns it on
# from two years (and warns below that when asked); between one and two years we fit it anyway (the sample has
# two years, and the backtest folds train on 14 to 23 months) and log one warning per run.
# Below four weeks a weekly pattern cannot be told from noise: the forecast is skipped, not guessed.
MIN_HISTORY_DAYS = 28
MIN_YEARLY_SEASONALITY_DAYS = 365
MIN_YEARLY_HISTORY_DAYS = 730


@dataclass(frozen=True)
class ForecastSettings:
    """Every parameter that shapes a forecast or its backtest: part of the model version hash."""

    horizon_days: int = HORIZON_DAYS
    interval_width: float = INTERVAL_WIDTH
    seed: int = SEED
    seasonality_mode: str = SEASONALITY_MODE
    yearly_fourier_order: int = YEARLY_FOURIER_ORDER
    changepoint_prior_scale: float = CHANGEPOINT_PRIOR_SCALE
    holidays_prior_scale: float = HOLIDAYS_PRIOR_SCALE
    seasonality_prior_scale: float = SEASONALITY_PRIOR_SCALE
    main_markets: tuple[str, ...] = field(default_factory=tuple)
    # The candidate models (names.py) the backtest scores and the selection chooses from.
    models: tuple[str, ...] = MODELS

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def model_version(series: pd.DataFrame, settings: ForecastSettings, as_of: date) -> str:
    """``forecast-<as-of>-<12 hex>``: a hash of the input series and the settings (same inputs, same version)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings.as_dict(), sort_keys=True, default=str).encode())
    ordered = series.sort_values(["series", "ds"], kind="stable")
    digest.update(pd.util.hash_pandas_object(ordered[["series", "ds", "y"]], index=False).to_numpy().tobytes())
    return f"{VERSION_PREFIX}-{as_of.isoformat()}-{digest.hexdigest()[:12]}"


def holidays_for(history: pd.DataFrame, settings: ForecastSettings) -> pd.DataFrame:
    """The holiday table covering a history and its forecast horizon."""
    first = pd.Timestamp(history["ds"].min())
    last = pd.Timestamp(history["ds"].max()) + pd.Timedelta(days=settings.horizon_days)
    return holiday_table(settings.main_markets, first.year, last.year)


def fit_prophet(history: pd.DataFrame, settings: ForecastSettings, holidays: pd.DataFrame) -> Any:
    """A Prophet model fitted by MAP to ``history`` (columns ds, y), without interval sampling."""
    prophet_class = import_prophet()
    days = (pd.Timestamp(history["ds"].max()) - pd.Timestamp(history["ds"].min())).days + 1
    model = prophet_class(
        growth="linear",
        yearly_seasonality=settings.yearly_fourier_order if days >= MIN_YEARLY_SEASONALITY_DAYS else False,
        weekly_seasonality=True,
        daily_seasonality=False,
        seasonality_mode=settings.seasonality_mode,
        holidays=holidays,
        changepoint_prior_scale=settings.changepoint_prior_scale,
        holidays_prior_scale=settings.holidays_prior_scale,
        seasonality_prior_scale=settings.seasonality_prior_scale,
        uncertainty_samples=0,
    )
    # The optimiser starts from values computed from the data; the seed only pins anything CmdStan may draw.
    with quiet_warnings():
        model.fit(history[["ds", "y"]], seed=settings.seed)
    return model


def predict_prophet(model: Any, dates: pd.Series) -> np.ndarray:
    """Prophet's point forecast (the mean path) for ``dates``; clipping at 0 is the caller's (candidates.py)."""
    with quiet_warnings():
        raw = model.predict(pd.DataFrame({"ds": pd.to_datetime(dates)}))
    return raw["yhat"].to_numpy(dtype=float)


def warn_about_short_history(series: pd.DataFrame) -> None:
    """Log once per run when the history is too short for a yearly pattern (or rests on less than two years)."""
    days = (pd.Timestamp(series["ds"].max()) - pd.Timestamp(series["ds"].min())).days + 1
    if days < MIN_YEARLY_SEASONALITY_DAYS:
        logger.warning("only %d days of history: no yearly seasonality (it needs a full year)", days)
    elif days <= MIN_YEARLY_HISTORY_DAYS:
        logger.warning("only %d days of history: the yearly seasonality rests on less than two years", days)
