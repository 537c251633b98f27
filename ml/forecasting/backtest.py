"""Rolling-origin backtests of every candidate model, the choice per series, and calibrated 80 % intervals.

Folds. N_FOLDS test windows of FOLD_HORIZON_DAYS days spread over the last year: the newest ends on the
as-of date and each earlier one ends FOLD_STEP_DAYS (a quarter) before the next, so the folds sample the
whole year rather than one season (on the default sample, as-of 2025-12-31: windows ending 2025-12-31,
2025-10-01, 2025-07-02 and 2025-04-02; December is tested, Black Friday falls between two windows). For
each fold every candidate is trained on all days up to the origin (the day before the window: an expanding
window) and forecasts the whole window in one go, 1 to 30 days ahead, as it would in production, fitted
exactly as the published forecast is (candidates.py: Prophet with the same settings and holidays, ETS, Theta,
their combination, the seasonal naive and the 28-day average), clipped at 0. A fold with less than
MIN_TRAINING_DAYS of history is left out.

Metrics (metrics.py): MAE, MAPE (zero actuals skipped), sMAPE and MASE scaled by the training window's
in-sample lag-7 seasonal-naive MAE.

Rows. One per series x model x fold (scope 'fold'), plus one per series x model (scope 'overall', fold
null) holding the mean of the folds' metrics (NaN folds skipped), so each fold weighs the same whatever its
scale. ``beats_seasonal_naive`` compares a model's MASE with the seasonal-naive MASE of the same series and
fold (or of the overall row); it is null on the seasonal-naive rows themselves. ``is_chosen`` marks every row
of the model that publishes the series' forecast (selection.py: lowest overall MASE). The interval columns
come from intervals.py: on a fold row the offsets calibrated on the other folds and the coverage they gave on
this fold; on the overall row the offsets of all folds (what the published interval uses) and the mean
coverage.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml.forecasting.candidates import fits_needed, predict_candidates
from ml.forecasting.intervals import KEYS, OFFSET_COLUMNS, calibrate
from ml.forecasting.metrics import accuracy, seasonal_naive_scale
from ml.forecasting.model import ForecastSettings, holidays_for
from ml.forecasting.names import BASELINES, PROPHET, SEASONAL_NAIVE
from ml.forecasting.selection import choose_models
from ml.progress import step as progress_step

logger = logging.getLogger(__name__)

N_FOLDS = 4
FOLD_HORIZON_DAYS = 30
FOLD_STEP_DAYS = 91
MIN_TRAINING_DAYS = 56  # eight weeks: enough for a weekly pattern and the 28-day moving average

METRICS: tuple[str, ...] = ("mae", "mape", "smape", "mase")

ACCURACY_COLUMNS: tuple[str, ...] = (
    "series",
    "measure",
    "category",
    "model",
    "is_baseline",
    "scope",
    "fold",
    "origin_date",
    "test_start",
    "test_end",
    "test_days",
    "training_days",
    *METRICS,
    "interval_coverage",
    *OFFSET_COLUMNS,
    "beats_seasonal_naive",
    "is_chosen",
    "model_version",
)
ACCURACY_CASTS: dict[str, str] = {
    "series": "varchar",
    "measure": "varchar",
    "category": "varchar",
    "model": "varchar",
    "is_baseline": "boolean",
    "scope": "varchar",
    "fold": "integer",
    "origin_date": "date",
    "test_start": "date",
    "test_end": "date",
    "test_days": "integer",
    "training_days": "integer",
    **{metric: "double" for metric in METRICS},
    "interval_coverage": "double",
    **{column: "double" for column in OFFSET_COLUMNS},
    "beats_seasonal_naive": "boolean",
    "is_chosen": "boolean",
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


def _fold_results(
    key: str,
    history: pd.DataFrame,
    origins: list[date],
    settings: ForecastSettings,
    holidays: pd.DataFrame | None,
    horizon: int,
) -> tuple[list[dict[str, object]], list[pd.DataFrame]]:
    """The metric rows of one series (one per fold and model) and its test days' errors (for the intervals)."""
    rows: list[dict[str, object]] = []
    errors: list[pd.DataFrame] = []
    ds = history["ds"].to_numpy()
    y = history["y"].to_numpy(dtype=float)
    for fold, origin in enumerate(origins, start=1):
        cut = np.datetime64(origin)
        train_mask = ds <= cut
        test_mask = (ds > cut) & (ds <= cut + np.timedelta64(horizon, "D"))
        train, actual = y[train_mask], y[test_mask]
        if not actual.size or train.size < MIN_TRAINING_DAYS:
            continue  # a series younger than the others (the folds follow the oldest series)
        forecasts = predict_candidates(history.loc[train_mask, ["ds", "y"]], int(actual.size), settings.models,
                                       settings, holidays)
        for name, prediction in forecasts.items():
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
                **accuracy(actual, prediction.forecast, train),
            })
        errors.append(pd.DataFrame({
            "series": key,
            "model": np.repeat(list(forecasts), actual.size),
            "fold": fold,
            "actual": np.tile(actual, len(forecasts)),
            "forecast": np.concatenate([p.forecast for p in forecasts.values()]),
            "scale": seasonal_naive_scale(train),
        }))
    return rows, errors


def _with_overall(folds: pd.DataFrame) -> pd.DataFrame:
    overall = (
        folds.groupby(KEYS, sort=False)
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


def _with_choice(table: pd.DataFrame) -> pd.DataFrame:
    """``is_chosen`` on every row of each series' chosen model (selection.py)."""
    folds = table[table["scope"] == "fold"]
    scored = folds.assign(_scored=np.isfinite(folds["mase"].astype(float)))
    folds_scored = scored.groupby(KEYS)["_scored"].sum().rename("folds_scored").reset_index()
    overall = table[table["scope"] == "overall"].merge(folds_scored, on=KEYS, how="left")
    chosen = choose_models(overall)
    table["is_chosen"] = table["model"].eq(table["series"].map(chosen))
    return table


def _with_intervals(table: pd.DataFrame, errors: pd.DataFrame, width: float) -> pd.DataFrame:
    """The interval offsets and coverage: per fold from the other folds, overall from all (intervals.py)."""
    per_fold, overall = calibrate(errors, width)
    columns = ["interval_coverage", *OFFSET_COLUMNS]
    per_fold = per_fold.assign(scope="fold", fold=per_fold["fold"].astype("Int64"))
    overall = overall.assign(scope="overall")
    folds = table[table["scope"] == "fold"].merge(per_fold, on=[*KEYS, "scope", "fold"], how="left")
    overall_rows = table[table["scope"] == "overall"].merge(overall, on=[*KEYS, "scope"], how="left")
    merged = pd.concat([folds, overall_rows], ignore_index=True)
    return merged.assign(**{c: merged[c].astype(float) for c in columns})


def backtest(
    series: pd.DataFrame,
    as_of: date,
    settings: ForecastSettings,
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
    holidays = holidays_for(series, settings) if PROPHET in fits_needed(settings.models) else None
    labels = series.groupby("series", sort=False)[["measure", "category"]].first()
    rows: list[dict[str, object]] = []
    errors: list[pd.DataFrame] = []
    groups = series.groupby("series", sort=False)
    with progress_step(logger, f"backtests: {len(origins)} folds per series", groups.ngroups, "series") as progress:
        for key, history in groups:
            fold_rows, fold_errors = _fold_results(
                str(key), history.reset_index(drop=True), origins, settings, holidays, horizon
            )
            rows.extend(fold_rows)
            errors.extend(fold_errors)
            progress.advance()
    table = _with_overall(pd.DataFrame(rows))
    table = _with_choice(_with_intervals(table, pd.concat(errors, ignore_index=True), settings.interval_width))
    table["is_baseline"] = table["model"].isin(BASELINES)
    table = table.join(labels, on="series")
    table["model_version"] = version
    logger.info("backtested %d series over %d folds", len(labels), len(origins))
    return table[list(ACCURACY_COLUMNS)].sort_values(
        ["series", "model", "scope", "fold"], kind="stable", na_position="last"
    ).reset_index(drop=True)
