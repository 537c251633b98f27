"""Which candidate publishes each series' forecast, and why: the lowest backtest MASE.

Rule. Per series, the candidate with the lowest overall MASE (the mean of its folds' MASE) wins. Only a candidate
scored on every fold of the series is eligible (a fit that failed on one fold is not compared on fewer, easier
folds). Ties (to 1e-9) go to the simpler model (names.SIMPLICITY: seasonal naive, 28-day average, theta, ETS,
Prophet, combination). The baselines are candidates, so the published forecast's backtest MASE is at most the
best baseline's by construction; the asset check re-checks it on the tables. A series with no backtest fold
(too little history) has no choice here: forecast.py falls back to the seasonal naive.

The choice is written into ml.forecast_accuracy (``is_chosen``) by the backtest; the forecast reads it back
from there with :func:`read_model_choice`, so the table shown on the dashboard is what the forecast used.
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pandas as pd

from ml.forecasting.intervals import OFFSET_COLUMNS
from ml.forecasting.names import SIMPLICITY
from ml.warehouse import ML_SCHEMA, table_exists

logger = logging.getLogger(__name__)

TIE_DECIMALS = 9
CHOICE_COLUMNS: tuple[str, ...] = (
    "series",
    "model",
    "backtest_mase",
    "best_baseline",
    "best_baseline_mase",
    "interval_coverage",
    *OFFSET_COLUMNS,
    "folds",
    "candidates",
    "chosen_reason",
    "model_version",
)


def choose_models(overall: pd.DataFrame) -> pd.Series:
    """The chosen model per series (index series), from the overall rows: series, model, mase, folds_scored."""
    most_folds = overall.groupby("series")["folds_scored"].transform("max")
    eligible = overall[np.isfinite(overall["mase"].astype(float)) & (overall["folds_scored"] == most_folds)]
    ranked = eligible.assign(
        _mase=eligible["mase"].astype(float).round(TIE_DECIMALS),
        _simplicity=eligible["model"].map({m: i for i, m in enumerate(SIMPLICITY)}).fillna(len(SIMPLICITY)),
    ).sort_values(["series", "_mase", "_simplicity"], kind="stable")
    return ranked.groupby("series", sort=False)["model"].first()


def _best(overall: pd.DataFrame, mask: pd.Series, prefix: str) -> pd.DataFrame:
    """Per series, the model with the lowest MASE among ``mask`` rows, as columns <prefix> and <prefix>_mase."""
    rows = overall[mask & np.isfinite(overall["mase"].astype(float))].sort_values(["series", "mase"], kind="stable")
    best = rows.groupby("series", sort=False).first()
    return pd.DataFrame({prefix: best["model"], f"{prefix}_mase": best["mase"].astype(float)})


def model_choice(accuracy: pd.DataFrame) -> pd.DataFrame:
    """One row per series (CHOICE_COLUMNS): the chosen model, its scores, the best baseline's, and a reason.

    ``accuracy``: the backtest table (ACCURACY_COLUMNS), with ``is_chosen`` set.
    """
    if accuracy.empty:
        return pd.DataFrame(columns=list(CHOICE_COLUMNS))
    overall = accuracy[accuracy["scope"] == "overall"]
    folds = accuracy[accuracy["scope"] == "fold"].groupby("series")["fold"].nunique().rename("folds")
    chosen = overall[overall["is_chosen"].fillna(False).astype(bool)].set_index("series")
    baseline = overall["is_baseline"].astype(bool)
    choice = (
        chosen[["model", "mase", "interval_coverage", *OFFSET_COLUMNS, "model_version"]]
        .rename(columns={"mase": "backtest_mase"})
        .join(_best(overall, baseline, "best_baseline"))
        .join(_best(overall, ~baseline, "best_model"))
        .join(folds)
        .join(overall.groupby("series")["model"].nunique().rename("candidates"))
        .reset_index()
    )
    choice["chosen_reason"] = _reasons(choice, chosen_is_baseline=choice["model"].isin(overall.loc[baseline, "model"]))
    return choice[list(CHOICE_COLUMNS)]


def _reasons(choice: pd.DataFrame, chosen_is_baseline: pd.Series) -> pd.Series:
    """'lowest backtest MASE of 6 candidates over 4 folds: 0.812; best baseline moving_average_28d 0.812'."""
    def number(column: str) -> pd.Series:
        return choice[column].astype(float).map(lambda value: f"{value:.3f}" if np.isfinite(value) else "n/a")

    def name(column: str) -> pd.Series:
        return choice[column].astype(object).fillna("none").astype(str)

    head = (
        "lowest backtest MASE of " + choice["candidates"].astype(str) + " candidates over "
        + choice["folds"].astype(str) + " folds: " + number("backtest_mase")
    )
    against_baseline = "; best baseline " + name("best_baseline") + " " + number("best_baseline_mase")
    no_model_beat = "; no model beat the baselines (best model " + name("best_model") + " " + number(
        "best_model_mase") + ")"
    return head + pd.Series(np.where(chosen_is_baseline, no_model_beat, against_baseline), index=choice.index)


def read_model_choice(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """The choice per series (CHOICE_COLUMNS) from the backtest table ``ml.<table>``; empty when it is absent."""
    if not table_exists(con, table):
        logger.warning("no %s.%s: every series falls back to the seasonal naive", ML_SCHEMA, table)
        return pd.DataFrame(columns=list(CHOICE_COLUMNS))
    return model_choice(con.execute(f"select * from {ML_SCHEMA}.{table}").df())
