"""Prophet models of the daily sales series and the forecast table.

Model. One Prophet model per series: linear trend, weekly seasonality, yearly seasonality (Fourier order
YEARLY_FOURIER_ORDER, from one full year of history on), additive seasonality, the holiday table of
holidays.py, MAP fit (deterministic: Prophet computes its initial values from the data and L-BFGS has no
randomness; CmdStan gets a fixed seed all the same). The trend is kept stiff (changepoint prior 0.01 rather
than Prophet's 0.05) and holiday effects shrunk (prior scale 1 rather than 10): daily sales of a small shop
are noisy. On the sample's backtests a few candidate settings (additive or multiplicative seasonality,
changepoint prior 0.05 or 0.01, yearly order 5 or 10, holiday prior 1 or 10) were within a few hundredths of
MASE of each other on the shop's revenue; additive with the stiffer trend beat the 28-day average on the most
series and fits fastest. 80 % intervals
(``interval_width``) come from UNCERTAINTY_SAMPLES simulated futures (trend changes and noise); Prophet draws
them with numpy's global generator, so it is seeded with SEED for the call and its previous state restored
afterwards: the same data give the same table.

Non-negativity. Revenue and units cannot be negative, but Prophet's Gaussian model can go below 0 on a
quiet day of a small category. yhat, lower and upper are clipped at 0 after prediction (clipping is
monotone, so lower <= yhat <= upper still holds). A clipped 0 is the honest point forecast for "no
sales", and the backtests score the clipped forecast, so the metrics describe what the table shows.
Prophet's point forecast is the mean path while the interval comes from simulations, so on rare days yhat
can fall just outside its own interval; the interval is then widened to include it (counted in the log).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from ml.forecasting.holidays import holiday_table
from ml.forecasting.quiet import import_prophet, quiet_warnings
from ml.progress import step
from ml.warehouse import InsufficientDataError

logger = logging.getLogger(__name__)

HORIZON_DAYS = 90
INTERVAL_WIDTH = 0.8
UNCERTAINTY_SAMPLES = 500
SEED = 20251231
SEASONALITY_MODE = "additive"
YEARLY_FOURIER_ORDER = 10
CHANGEPOINT_PRIOR_SCALE = 0.01
HOLIDAYS_PRIOR_SCALE = 1.0
SEASONALITY_PRIOR_SCALE = 10.0
MODEL_NAME = "prophet"

# Yearly seasonality is fitted only on at least a full year of history: with less, its Fourier terms are
# extrapolated over days of the year never seen and a forecast can swing wildly. Prophet itself only turns it on
# from two years (and warns below that when asked); between one and two years we fit it anyway (the sample has
# two years, and the backtest folds train on 14 to 23 months) and log one warning per run.
# Below four weeks a weekly pattern cannot be told from noise: the forecast is skipped, not guessed.
MIN_HISTORY_DAYS = 28
MIN_YEARLY_SEASONALITY_DAYS = 365
MIN_YEARLY_HISTORY_DAYS = 730

FORECAST_COLUMNS: tuple[str, ...] = (
    "date_day",
    "series",
    "measure",
    "category",
    "actual",
    "yhat",
    "yhat_lower",
    "yhat_upper",
    "is_forecast",
    "model_version",
)
FORECAST_CASTS: dict[str, str] = {
    "date_day": "date",
    "series": "varchar",
    "measure": "varchar",
    "category": "varchar",
    "actual": "double",
    "yhat": "double",
    "yhat_lower": "double",
    "yhat_upper": "double",
    "is_forecast": "boolean",
    "model_version": "varchar",
}


@dataclass(frozen=True)
class ProphetSettings:
    """Every parameter that shapes a fit: part of the model version hash."""

    horizon_days: int = HORIZON_DAYS
    interval_width: float = INTERVAL_WIDTH
    uncertainty_samples: int = UNCERTAINTY_SAMPLES
    seed: int = SEED
    seasonality_mode: str = SEASONALITY_MODE
    yearly_fourier_order: int = YEARLY_FOURIER_ORDER
    changepoint_prior_scale: float = CHANGEPOINT_PRIOR_SCALE
    holidays_prior_scale: float = HOLIDAYS_PRIOR_SCALE
    seasonality_prior_scale: float = SEASONALITY_PRIOR_SCALE
    main_markets: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@contextlib.contextmanager
def seeded_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for a block and put its previous state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def model_version(series: pd.DataFrame, settings: ProphetSettings, as_of: date) -> str:
    """``prophet-<as-of>-<12 hex>``: a hash of the input series and the settings (same inputs, same version)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(settings.as_dict(), sort_keys=True, default=str).encode())
    ordered = series.sort_values(["series", "ds"], kind="stable")
    digest.update(pd.util.hash_pandas_object(ordered[["series", "ds", "y"]], index=False).to_numpy().tobytes())
    return f"{MODEL_NAME}-{as_of.isoformat()}-{digest.hexdigest()[:12]}"


def holidays_for(history: pd.DataFrame, settings: ProphetSettings) -> pd.DataFrame:
    """The holiday table covering a history and its forecast horizon."""
    first = pd.Timestamp(history["ds"].min())
    last = pd.Timestamp(history["ds"].max()) + pd.Timedelta(days=settings.horizon_days)
    return holiday_table(settings.main_markets, first.year, last.year)


def fit_prophet(history: pd.DataFrame, settings: ProphetSettings, holidays: pd.DataFrame, with_intervals: bool) -> Any:
    """A Prophet model fitted by MAP to ``history`` (columns ds, y); intervals sampled only ``with_intervals``."""
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
        interval_width=settings.interval_width,
        uncertainty_samples=settings.uncertainty_samples if with_intervals else 0,
    )
    # The optimiser starts from values computed from the data; the seed only pins anything CmdStan may draw.
    with quiet_warnings():
        model.fit(history[["ds", "y"]], seed=settings.seed)
    return model


def predict(model: Any, dates: pd.Series, settings: ProphetSettings) -> pd.DataFrame:
    """yhat, yhat_lower, yhat_upper for ``dates``, clipped at 0 (seeded: see the module docstring)."""
    with seeded_numpy(settings.seed), quiet_warnings():
        raw = model.predict(pd.DataFrame({"ds": pd.to_datetime(dates)}))
    out = pd.DataFrame({"ds": raw["ds"], "yhat": raw["yhat"].clip(lower=0.0)})
    if "yhat_lower" in raw:
        out["yhat_lower"] = np.minimum(raw["yhat_lower"].clip(lower=0.0), out["yhat"])
        out["yhat_upper"] = np.maximum(raw["yhat_upper"].clip(lower=0.0), out["yhat"])
        widened = int(((raw["yhat_lower"] > raw["yhat"]) | (raw["yhat_upper"] < raw["yhat"])).sum())
        if widened:
            logger.info("widened %d intervals to contain their point forecast", widened)
    return out


def forecast_one(history: pd.DataFrame, settings: ProphetSettings, holidays: pd.DataFrame) -> pd.DataFrame:
    """In-sample fit and the next ``horizon_days`` days of one series (ds, actual, yhat, bounds, is_forecast)."""
    model = fit_prophet(history, settings, holidays, with_intervals=True)
    last = pd.Timestamp(history["ds"].max())
    future = pd.date_range(last + pd.Timedelta(days=1), periods=settings.horizon_days, freq="D")
    dates = pd.concat([history["ds"], pd.Series(future)], ignore_index=True)
    predicted = predict(model, dates, settings)
    predicted["actual"] = np.concatenate([history["y"].to_numpy(dtype=float), np.full(len(future), np.nan)])
    predicted["is_forecast"] = predicted["ds"] > last
    return predicted


def forecast_daily_sales(
    series: pd.DataFrame, as_of: date, settings: ProphetSettings
) -> tuple[pd.DataFrame, str]:
    """The forecast table for every series (FORECAST_COLUMNS) and its model version.

    ``series``: the long frame of series.read_daily_series. History rows carry the actual and the in-sample
    fit; the HORIZON_DAYS rows after the as-of date carry the forecast (actual null, is_forecast true).
    Fits one series after the other (one Prophet model each): the work is CmdStan's, not a loop over rows.
    """
    version = model_version(series, settings, as_of)
    if series.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS)), version
    span = (pd.Timestamp(series["ds"].max()) - pd.Timestamp(series["ds"].min())).days
    if span + 1 < MIN_HISTORY_DAYS:
        raise InsufficientDataError(f"only {span + 1} days of sales: a forecast needs at least {MIN_HISTORY_DAYS}")
    if span + 1 < MIN_YEARLY_SEASONALITY_DAYS:
        logger.warning("only %d days of history: no yearly seasonality (it needs a full year)", span + 1)
    elif span < MIN_YEARLY_HISTORY_DAYS:
        logger.warning("only %d days of history: the yearly seasonality rests on less than two years", span + 1)
    holidays = holidays_for(series, settings)
    frames = []
    groups = series.groupby("series", sort=False)
    with step(logger, "forecasts: Prophet fits", groups.ngroups, "series") as progress:
        for key, history in groups:
            predicted = forecast_one(history[["ds", "y"]].reset_index(drop=True), settings, holidays)
            predicted["series"] = key
            predicted["measure"] = history["measure"].iloc[0]
            predicted["category"] = history["category"].iloc[0]
            frames.append(predicted)
            progress.advance()
    table = pd.concat(frames, ignore_index=True).rename(columns={"ds": "date_day"})
    table["model_version"] = version
    logger.info("forecast %d series x %d days (%s)", len(frames), settings.horizon_days, version)
    return table[list(FORECAST_COLUMNS)], version
