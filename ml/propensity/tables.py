"""The two warehouse tables of the propensity model: ``ml.model_runs`` and ``ml.customer_scores``.

Scores are for "the next 30 days" after the as-of date: features at cutoff ``as_of + 1 day`` read every
event up to and including the as-of date (features.py windows are ``[cutoff - N, cutoff)``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from ml.propensity.features import build_features
from ml.propensity.model import TrainingResult, score_customers
from ml.warehouse import finite_metrics, finite_or_none

MODEL_RUNS_TABLE = "model_runs"
CUSTOMER_SCORES_TABLE = "customer_scores"
REASON_SEPARATOR = "; "
_HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier", "top_decile_lift")


def scoring_cutoff(as_of: date) -> date:
    """The cutoff whose features include the as-of date itself."""
    return as_of + timedelta(days=1)


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str, allow_nan=False)


def model_run_record(result: TrainingResult, version: str, trained_at: datetime, as_of: date) -> pd.DataFrame:
    """One row for ``ml.model_runs``: headline metrics as columns (for dashboards), everything as JSON too."""
    record: dict[str, object] = {
        "version": version,
        "model_name": result.model_name,
        "calibration": result.calibration_method,
        "trained_at": pd.Timestamp(trained_at).tz_localize(None) if trained_at.tzinfo else pd.Timestamp(trained_at),
        "as_of_date": pd.Timestamp(as_of),
        "eval_cutoff": pd.Timestamp(result.eval_cutoff),
        "validation_cutoff": pd.Timestamp(result.validation_cutoff),
        "training_cutoffs": _json([c.isoformat() for c in result.training_cutoffs]),
    }
    for name in _HEADLINE_METRICS:
        record[name] = finite_or_none(result.metrics[name])
        record[f"baseline_{name}"] = finite_or_none(result.baseline_metrics[name])
    record["eval_customers"] = int(result.metrics["n"])
    record["eval_positive_rate"] = finite_or_none(result.metrics["positive_rate"])
    record["beats_baseline"] = bool(result.metrics["roc_auc"] > result.baseline_metrics["roc_auc"])
    record["metrics"] = _json(finite_metrics(result.metrics))
    record["baseline_metrics"] = _json(finite_metrics(result.baseline_metrics))
    record["validation_auc"] = _json(finite_metrics(result.validation_auc))
    record["features"] = _json(result.feature_names)
    return pd.DataFrame([record])


def customer_scores_table(
    con: duckdb.DuckDBPyConnection, result: TrainingResult, version: str, as_of: date, scored_at: datetime
) -> pd.DataFrame:
    """Every known customer registered by the as-of date, scored for the 30 days after it."""
    features = build_features(con, [scoring_cutoff(as_of)])
    scores = score_customers(result, features)
    reasons = pd.DataFrame(scores["reasons"].tolist(), index=scores.index)
    out = scores[["customer_id", "score", "segment", "action"]].copy()
    columns = [reasons[i].fillna("") for i in range(reasons.shape[1])]
    out["reasons"] = columns[0].str.cat(columns[1:], sep=REASON_SEPARATOR) if columns else ""
    for i in range(reasons.shape[1]):
        out[f"reason_{i + 1}"] = reasons[i]
    out["model_version"] = version
    out["as_of_date"] = pd.Timestamp(as_of)
    out["scored_at"] = pd.Timestamp(scored_at).tz_localize(None) if scored_at.tzinfo else pd.Timestamp(scored_at)
    return out
