"""The published forecast table: per series, the model the backtest chose, with its calibrated 80 % interval.

For every series the chosen model (selection.py, read from ml.forecast_accuracy) is fitted on the whole
history and forecasts HORIZON_DAYS ahead; only that model is fitted (the combination: its three members), so
Prophet runs here only for the series it won. History rows carry the actual and the model's in-sample fit
(Prophet's fitted curve; the other models' one-step-ahead values), forecast rows the forecast. Both carry the
interval calibrated on the backtest errors (intervals.py): the point value plus the series' offsets times its
scale (the in-sample lag-7 seasonal-naive MAE of the whole history), clipped at 0. Every row also says which
model produced it and why (``chosen_reason``, the backtest MASE, the best baseline's, the interval coverage).

A series without a choice (no backtest fold: history too short; or a series the last backtest did not see)
falls back to the seasonal naive, with offsets from its own lag-7 differences and no coverage: nothing was
measured, the reason says so.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd

from ml.forecasting.candidates import fits_needed, predict_candidates
from ml.forecasting.intervals import OFFSET_COLUMNS, interval_bounds, naive_offsets
from ml.forecasting.metrics import seasonal_naive_scale
from ml.forecasting.model import (
    MIN_HISTORY_DAYS,
    ForecastSettings,
    holidays_for,
    model_version,
    warn_about_short_history,
)
from ml.forecasting.names import PROPHET, SEASONAL_NAIVE
from ml.forecasting.selection import CHOICE_COLUMNS
from ml.progress import step
from ml.warehouse import InsufficientDataError

logger = logging.getLogger(__name__)

FALLBACK_MODEL = SEASONAL_NAIVE
FALLBACK_REASON = (
    "no backtest choice for this series (history too short for a fold, or not in the last backtest): "
    "seasonal naive by default"
)

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
    "model",
    "backtest_mase",
    "best_baseline_mase",
    "interval_coverage",
    "chosen_reason",
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
    "model": "varchar",
    "backtest_mase": "double",
    "best_baseline_mase": "double",
    "interval_coverage": "double",
    "chosen_reason": "varchar",
    "model_version": "varchar",
}


def _choices(series: pd.DataFrame, choice: pd.DataFrame | None) -> pd.DataFrame:
    """The choice of every series of ``series`` (index series), the fallback where there is none."""
    keys = pd.Index(series["series"].unique(), name="series")
    known = (choice if choice is not None else pd.DataFrame(columns=list(CHOICE_COLUMNS))).set_index("series")
    choices = known.reindex(keys)
    missing = choices["model"].isna()
    if missing.any():
        logger.warning("no backtest choice for %d series (%s): seasonal naive", int(missing.sum()),
                       ", ".join(map(str, keys[missing])))
        choices.loc[missing, "model"] = FALLBACK_MODEL
        choices.loc[missing, "chosen_reason"] = FALLBACK_REASON
    return choices


def forecast_one(
    history: pd.DataFrame, choice: pd.Series, settings: ForecastSettings, holidays: pd.DataFrame | None
) -> pd.DataFrame:
    """In-sample fit and the next ``horizon_days`` days of one series by its chosen model, with the interval."""
    model = str(choice["model"])
    prediction = predict_candidates(history, settings.horizon_days, [model], settings, holidays, in_sample=True)[model]
    y = history["y"].to_numpy(dtype=float)
    if pd.isna(choice[OFFSET_COLUMNS[0]]):
        lower_offset, upper_offset = naive_offsets(y, settings.interval_width)
    else:
        lower_offset, upper_offset = float(choice[OFFSET_COLUMNS[0]]), float(choice[OFFSET_COLUMNS[1]])
    yhat = np.concatenate([prediction.fitted, prediction.forecast])
    lower, upper = interval_bounds(yhat, lower_offset, upper_offset, seasonal_naive_scale(y))
    last = pd.Timestamp(history["ds"].max())
    future = pd.date_range(last + pd.Timedelta(days=1), periods=settings.horizon_days, freq="D")
    return pd.DataFrame({
        "date_day": pd.concat([history["ds"], pd.Series(future)], ignore_index=True),
        "actual": np.concatenate([y, np.full(settings.horizon_days, np.nan)]),
        "yhat": yhat,
        "yhat_lower": lower,
        "yhat_upper": upper,
        "is_forecast": np.concatenate([np.zeros(y.size, bool), np.ones(settings.horizon_days, bool)]),
    })


def forecast_daily_sales(
    series: pd.DataFrame, as_of: date, settings: ForecastSettings, choice: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, str]:
    """The forecast table for every series (FORECAST_COLUMNS) and its model version.

    ``series``: the long frame of series.read_daily_series; ``choice``: selection.model_choice of the backtest
    (None or missing series: the seasonal-naive fallback). History rows carry the actual and the in-sample fit;
    the HORIZON_DAYS rows after the as-of date carry the forecast (actual null, is_forecast true). One fit per
    series (of its chosen model): the work is the models', not a loop over rows.
    """
    version = model_version(series, settings, as_of)
    if series.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS)), version
    span = (pd.Timestamp(series["ds"].max()) - pd.Timestamp(series["ds"].min())).days
    if span + 1 < MIN_HISTORY_DAYS:
        raise InsufficientDataError(f"only {span + 1} days of sales: a forecast needs at least {MIN_HISTORY_DAYS}")
    choices = _choices(series, choice)
    needs_prophet = PROPHET in fits_needed(choices["model"].unique())
    if needs_prophet:
        warn_about_short_history(series)
    holidays = holidays_for(series, settings) if needs_prophet else None
    frames = []
    groups = series.groupby("series", sort=False)
    with step(logger, "forecasts: chosen models", groups.ngroups, "series") as progress:
        for key, history in groups:
            frame = forecast_one(history[["ds", "y"]].reset_index(drop=True), choices.loc[key], settings, holidays)
            frames.append(frame.assign(series=key, measure=history["measure"].iloc[0],
                                       category=history["category"].iloc[0]))
            progress.advance()
    table = pd.concat(frames, ignore_index=True)
    per_series = choices[["model", "backtest_mase", "best_baseline_mase", "interval_coverage", "chosen_reason"]]
    table = table.join(per_series.astype({c: float for c in ("backtest_mase", "best_baseline_mase",
                                                              "interval_coverage")}), on="series")
    table["model_version"] = version
    used = choices["model"].value_counts().to_dict()
    logger.info("forecast %d series x %d days (%s) with %s", len(frames), settings.horizon_days, version, used)
    return table[list(FORECAST_COLUMNS)], version
