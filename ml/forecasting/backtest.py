"""Rolling-origin backtests of the Prophet models against two baselines.

Folds. N_FOLDS test windows of FOLD_HORIZON_DAYS days spread over the last year: the newest ends on the
as-of date and each earlier one ends FOLD_STEP_DAYS (a quarter) before the next, so the folds sample the
whole year rather than one season (on the default sample, as-of 2025-12-31: windows ending 2025-12-31,
2025-10-01, 2025-07-02 and 2025-04-02; December is tested, Black Friday falls between two windows). For
each fold every model is trained on all days up to the origin (the day before the window: an expanding
window) and forecasts the whole window in one go, 1 to 30 days ahead, as it would in production. Prophet is
fitted exactly as in model.py (same settings and holidays) without interval sampling, and its forecast is
clipped at 0 like the published one. A fold with less than MIN_TRAINING_DAYS of history is left out.

Models: ``prophet``; ``seasonal_naive`` (same weekday of the last observed week, repeated); and
``moving_average_28d`` (mean of the last 28 days, flat). Metrics (metrics.py): MAE, MAPE (zero actuals
skipped), sMAPE and MASE scaled by the training window's in-sample lag-7 seasonal-naive MAE.

Rows. One per series x model x fold (scope 'fold'), plus one per series x model (scope 'overall', fold
null) holding the mean of the folds' metrics (NaN folds skipped), so each fold weighs the same whatever its
scale. ``beats_seasonal_naive`` compares a model's MASE with the seasonal-naive MASE of the same series and
fold (or of the overall row); it is null on the seasonal-naive rows themselves.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml.forecasting.metrics import accuracy, moving_average_forecast, seasonal_naive_forecast
from ml.forecasting.model import ProphetSettings, fit_prophet, holidays_for, predict
from ml.progress import step as progress_step

logger = logging.getLogger(__name__)

N_FOLDS = 4
FOLD_HORIZON_DAYS = 30
FOLD_STEP_DAYS = 91
MIN_TRAINING_DAYS = 56  # eight weeks: enough for a weekly pattern and the 28-day moving average

PROPHET = "prophet"
SEASONAL_NAIVE = "seasonal_naive"
MOVING_AVERAGE = "moving_average_28d"
MODELS: tuple[str, ...] = (PROPHET, SEASONAL_NAIVE, MOVING_AVERAGE)
METRICS: tuple[str, ...] = ("mae", "mape", "smape", "mase")

ACCURACY_COLUMNS: tuple[str, ...] = (
    "series",
    "measure",
    "category",
    "model",
    "scope",
    "fold",
    "origin_date",
    "test_start",
    "test_end",
    "test_days",
    "training_days",
    *METRICS,
    "beats_seasonal_naive",
    "model_version",
)
ACCURACY_CASTS: dict[str, str] = {
    "series": "varchar",
    "measure": "varchar",
    "category": "varchar",
    "model": "varchar",
    "scope": "varchar",
    "fold": "integer",
    "origin_date": "date",
    "test_start": "date",
    "test_end": "date",
    "test_days": "integer",
    "training_days": "integer",
    **{metric: "double" for metric in METRICS},
    "beats_seasonal_naive": "boolean",
    "model_version": "varchar",
}


def fold_origins(
    first_day: date,
    as_of: date,
    n_folds: int = N_FOLDS,
    horizon: int = FOLD_HORIZON_DAYS,
    step: int = FOLD_STEP_DAYS,
    min_training_days: int = MIN_TRAINING_DAYS,
) -> list[date]:
    """Origins (last training day) of the folds, oldest first; folds without enough history are dropped."""
    origins = [as_of - timedelta(days=horizon + k * step) for k in range(n_folds)]
    usable = [o for o in origins if (o - first_day).days + 1 >= min_training_days]
    return sorted(usable)


def _fold_rows(
    key: str,
    history: pd.DataFrame,
    origins: list[date],
    settings: ProphetSettings,
    holidays: pd.DataFrame,
    horizon: int,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    ds = history["ds"].to_numpy()
    y = history["y"].to_numpy(dtype=float)
    for fold, origin in enumerate(origins, start=1):
        cut = np.datetime64(origin)
        train_mask = ds <= cut
        test_mask = (ds > cut) & (ds <= cut + np.timedelta64(horizon, "D"))
        train, actual = y[train_mask], y[test_mask]
        if not actual.size:
            continue
        model = fit_prophet(history.loc[train_mask, ["ds", "y"]], settings, holidays, with_intervals=False)
        forecasts = {
            PROPHET: predict(model, history.loc[test_mask, "ds"], settings)["yhat"].to_numpy(),
            SEASONAL_NAIVE: seasonal_naive_forecast(train, actual.size),
            MOVING_AVERAGE: moving_average_forecast(train, actual.size),
        }
        for name, forecast in forecasts.items():
            rows.append({
                "series": key,
                "model": name,
                "scope": "fold",
                "fold": fold,
                "origin_date": origin,
                "test_start": origin + timedelta(days=1),
                "test_end": origin + timedelta(days=int(actual.size)),
                "test_days": int(actual.size),
                "training_days": int(train.size),
                **accuracy(actual, forecast, train),
            })
    return rows


def _with_overall(folds: pd.DataFrame) -> pd.DataFrame:
    overall = (
        folds.groupby(["series", "model"], sort=False)
        .agg(
            test_start=("test_start", "min"),
            test_end=("test_end", "max"),
            test_days=("test_days", "sum"),
            training_days=("training_days", "max"),
            **{m: (m, "mean") for m in METRICS},
        )
        .reset_index()
    )
    overall["scope"] = "overall"
    overall["fold"] = pd.NA
    overall["origin_date"] = pd.NaT
    table = pd.concat([folds, overall], ignore_index=True)
    table["fold"] = table["fold"].astype("Int64")
    naive = table[table["model"] == SEASONAL_NAIVE][["series", "scope", "fold", "mase"]]
    table = table.merge(naive.rename(columns={"mase": "_naive_mase"}), on=["series", "scope", "fold"], how="left")
    beats = table["mase"] < table["_naive_mase"]
    table["beats_seasonal_naive"] = beats.astype("boolean").where(table["model"] != SEASONAL_NAIVE)
    unknown = table["mase"].isna() | table["_naive_mase"].isna()
    table.loc[unknown, "beats_seasonal_naive"] = pd.NA
    return table.drop(columns="_naive_mase")


def backtest(
    series: pd.DataFrame,
    as_of: date,
    settings: ProphetSettings,
    version: str,
    n_folds: int = N_FOLDS,
    horizon: int = FOLD_HORIZON_DAYS,
    step: int = FOLD_STEP_DAYS,
) -> pd.DataFrame:
    """The accuracy table (ACCURACY_COLUMNS) of every series of ``series`` (long frame of read_daily_series)."""
    if series.empty:
        return pd.DataFrame(columns=list(ACCURACY_COLUMNS))
    first_day = pd.Timestamp(series["ds"].min()).date()
    origins = fold_origins(first_day, as_of, n_folds, horizon, step)
    if not origins:
        logger.warning("not enough history before %s for a backtest fold", as_of)
        return pd.DataFrame(columns=list(ACCURACY_COLUMNS))
    holidays = holidays_for(series, settings)
    labels = series.groupby("series", sort=False)[["measure", "category"]].first()
    rows: list[dict[str, object]] = []
    groups = series.groupby("series", sort=False)
    with progress_step(logger, f"backtests: {len(origins)} folds per series", groups.ngroups, "series") as progress:
        for key, history in groups:
            rows.extend(_fold_rows(str(key), history.reset_index(drop=True), origins, settings, holidays, horizon))
            progress.advance()
    table = _with_overall(pd.DataFrame(rows))
    table = table.join(labels, on="series")
    table["model_version"] = version
    logger.info("backtested %d series over %d folds", len(labels), len(origins))
    return table[list(ACCURACY_COLUMNS)].sort_values(
        ["series", "model", "scope", "fold"], kind="stable", na_position="last"
    ).reset_index(drop=True)
