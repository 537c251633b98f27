"""Calibrated 80 % intervals from backtest errors (split conformal), and their coverage measured on held-out folds.

Method. For every series, model and fold the backtest keeps each test day's error e = actual - forecast (1 to
30 days ahead) and the fold's scale s, the MASE scale (in-sample MAE of the lag-7 seasonal naive on the fold's
training days). Scaled errors z = e / s put folds of different levels on one footing (a growing shop makes
larger errors in its own currency). The interval of a point forecast f whose series has scale S is
``[max(f + q_lo S, 0), f + q_hi S]``, with q_lo and q_hi the 10 % and 90 % quantiles of z (split conformal's
finite-sample order statistics, see scaled_offsets), widened to 0 when both lie on one side (a biased model:
the interval must still contain its point forecast).

Coverage is measured, never assumed: leave one fold out. For each fold the quantiles come from the other folds'
errors, and the fold's coverage is the share of its actuals inside the interval built with them; the overall
coverage is the mean over the folds. The published interval takes the quantiles of all folds (so it rests on
one more fold than each measurement). A single fold leaves nothing to measure with: coverage null.

Limits. Errors of every horizon (1 to 30 days) are pooled, and the published days 31 to 90, which no fold
tests, get the same width: errors usually grow with the horizon, so the far end is likely under-covered.
Pooling keeps about 90 errors per calibration instead of a dozen per horizon bucket.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.forecasting.metrics import SEASON_LENGTH, seasonal_naive_scale
from ml.forecasting.model import INTERVAL_WIDTH

OFFSET_COLUMNS: tuple[str, str] = ("interval_lower_offset", "interval_upper_offset")
KEYS: list[str] = ["series", "model"]


def quantile_levels(width: float = INTERVAL_WIDTH) -> tuple[float, float]:
    """The central interval's lower and upper quantile levels (0.1 and 0.9 for 80 %)."""
    tail = (1.0 - width) / 2.0
    return tail, 1.0 - tail


def interval_bounds(
    yhat: np.ndarray, lower_offset: np.ndarray | float, upper_offset: np.ndarray | float, scale: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """``[max(yhat + lower_offset x scale, 0), yhat + upper_offset x scale]`` (offsets: lower <= 0 <= upper)."""
    yhat = np.asarray(yhat, dtype=float)
    lower = np.clip(yhat + np.asarray(lower_offset) * np.asarray(scale), 0.0, None)
    return np.minimum(lower, yhat), yhat + np.asarray(upper_offset) * np.asarray(scale)


def scaled_offsets(errors: pd.DataFrame, keys: list[str], width: float = INTERVAL_WIDTH) -> pd.DataFrame:
    """Per group of ``keys``: the order statistics of ``scaled_error`` that bound the interval, widened to 0.

    Split conformal's finite-sample rule: of n errors, the floor((n + 1) x 0.1)-th and the ceil((n + 1) x 0.9)-th
    smallest (not an interpolated quantile), which covers at least 80 % of a new error exchangeable with them.
    """
    low, high = quantile_levels(width)
    ranked = errors.dropna(subset=["scaled_error"]).sort_values([*keys, "scaled_error"], kind="stable")
    grouped = ranked.groupby(keys, sort=False)["scaled_error"]
    count = grouped.transform("size")
    rank = grouped.cumcount() + 1
    lowest = np.clip(np.floor((count + 1) * low), 1, count)
    highest = np.clip(np.ceil((count + 1) * high), 1, count)
    lower = ranked[rank == lowest].set_index(keys)["scaled_error"].clip(upper=0.0)
    upper = ranked[rank == highest].set_index(keys)["scaled_error"].clip(lower=0.0)
    return pd.DataFrame({OFFSET_COLUMNS[0]: lower, OFFSET_COLUMNS[1]: upper}).reset_index()


def _coverage(errors: pd.DataFrame) -> pd.Series:
    """Whether each day's actual lies in its interval (NaN when the interval is unknown)."""
    lower, upper = interval_bounds(
        errors["forecast"].to_numpy(), errors[OFFSET_COLUMNS[0]].to_numpy(), errors[OFFSET_COLUMNS[1]].to_numpy(),
        errors["scale"].to_numpy(),
    )
    actual = errors["actual"].to_numpy(dtype=float)
    inside = ((actual >= lower) & (actual <= upper)).astype(float)
    return pd.Series(np.where(np.isnan(lower) | np.isnan(upper), np.nan, inside), index=errors.index)


def calibrate(errors: pd.DataFrame, width: float = INTERVAL_WIDTH) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interval offsets and coverage per fold (leave-one-fold-out) and overall (offsets from every fold).

    ``errors``: one row per series, model, fold and test day with actual, forecast (clipped) and the fold's
    scale. Returns (per fold: series, model, fold, offsets, interval_coverage; overall: series, model, offsets,
    interval_coverage = mean of the folds').
    """
    errors = errors.assign(scaled_error=(errors["actual"] - errors["forecast"]) / errors["scale"].where(
        errors["scale"] > 0))
    per_fold = []
    for fold in sorted(errors["fold"].unique()):
        held_out = errors[errors["fold"] == fold]
        offsets = scaled_offsets(errors[errors["fold"] != fold], KEYS, width)
        scored = held_out.merge(offsets, on=KEYS, how="left")
        scored["interval_coverage"] = _coverage(scored)
        per_fold.append(
            scored.groupby([*KEYS, "fold"], sort=False)
            .agg(**{c: (c, "first") for c in OFFSET_COLUMNS}, interval_coverage=("interval_coverage", "mean"))
            .reset_index()
        )
    folds = pd.concat(per_fold, ignore_index=True)
    overall = scaled_offsets(errors, KEYS, width).merge(
        folds.groupby(KEYS, sort=False)["interval_coverage"].mean().reset_index(), on=KEYS, how="left"
    )
    return folds, overall


def naive_offsets(y: np.ndarray, width: float = INTERVAL_WIDTH) -> tuple[float, float]:
    """Offsets from the series' own lag-7 differences: the seasonal naive's errors one week ahead in sample.

    For a series too short for any backtest fold, whose forecast falls back to the seasonal naive.
    """
    y = np.asarray(y, dtype=float)
    scale = seasonal_naive_scale(y)
    if not scale > 0:
        return 0.0, 0.0
    scaled = pd.DataFrame({"key": 0, "scaled_error": (y[SEASON_LENGTH:] - y[:-SEASON_LENGTH]) / scale})
    offsets = scaled_offsets(scaled, ["key"], width)
    return float(offsets[OFFSET_COLUMNS[0]].iloc[0]), float(offsets[OFFSET_COLUMNS[1]].iloc[0])
