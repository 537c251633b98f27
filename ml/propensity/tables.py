"""The two warehouse tables of the propensity model: ``ml.model_runs`` and ``ml.customer_scores``.

Scores are for "the next H days" after the as-of date (H: the run's ``horizon_days``, the shop's rhythm):
features at the scoring cutoff ``as_of + 1 day`` (dbt's feat_propensity__cutoffs) read every event up to and
including the as-of date (windows are ``[cutoff - N, cutoff)``). Both tables say which scorer is published (the
model, or the RFM baseline when the model does not beat it: baseline.py) and why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from ml.progress import step
from ml.propensity import CUSTOMER_SCORES_TABLE
from ml.propensity.baseline import MODEL_SCORER
from ml.propensity.features import build_features, count_feature_rows, feature_chunks, read_cutoff_plan
from ml.propensity.model import CHUNK_ROWS, N_REASONS, TrainingResult, score_customers
from ml.warehouse import finite_metrics, finite_or_none, replace_table_from_query, scalar

REASON_SEPARATOR = "; "
_SCORES_STAGING = "_customer_scores"  # temporary: the chunks' scores until they replace the table
_HEADLINE_METRICS = ("roc_auc", "pr_auc", "brier", "top_decile_lift")

logger = logging.getLogger(__name__)


def scoring_cutoff(con: duckdb.DuckDBPyConnection, as_of: date) -> date:
    """The cutoff whose features include the as-of date itself (as_of + 1 day), as dbt planned it.

    The features are dbt's, built for one as-of date: scoring for another would mislabel every row.
    """
    cutoff = read_cutoff_plan(con).scoring_cutoff
    if cutoff != as_of + timedelta(days=1):
        raise ValueError(f"the feature models were built for scoring cutoff {cutoff}, not the day after {as_of}")
    return cutoff


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
    record["beats_baseline"] = result.scorer == MODEL_SCORER  # by the margin baseline.choose_scorer requires
    record["scorer"] = result.scorer
    record["scorer_reason"] = result.scorer_reason
    record["required_auc_margin"] = finite_or_none(result.required_auc_margin)
    record["horizon_days"] = result.horizon_days
    record["metrics"] = _json(finite_metrics(result.metrics))
    record["baseline_metrics"] = _json(finite_metrics(result.baseline_metrics))
    record["validation_auc"] = _json(finite_metrics(result.validation_auc))
    record["features"] = _json(result.feature_names)
    return pd.DataFrame([record])


def customer_scores_table(
    con: duckdb.DuckDBPyConnection, result: TrainingResult, version: str, as_of: date, scored_at: datetime
) -> pd.DataFrame:
    """Every known customer registered by the as-of date, scored for the horizon after it (one frame)."""
    return scores_frame(build_features(con, [scoring_cutoff(con, as_of)]), result, version, as_of, scored_at)


def scores_frame(
    features: pd.DataFrame, result: TrainingResult, version: str, as_of: date, scored_at: datetime
) -> pd.DataFrame:
    """The ml.customer_scores rows of these customers (a build_features frame at the scoring cutoff)."""
    scores = score_customers(result, features)
    reasons = pd.DataFrame(scores["reasons"].tolist(), index=scores.index)
    out = scores[["customer_id", "score", "segment", "action", "scorer"]].copy()
    out["horizon_days"] = result.horizon_days
    columns = [reasons[i].fillna("") for i in range(reasons.shape[1])]
    out["reasons"] = columns[0].str.cat(columns[1:], sep=REASON_SEPARATOR) if columns else ""
    for i in range(reasons.shape[1]):
        out[f"reason_{i + 1}"] = reasons[i]
    out["model_version"] = version
    out["as_of_date"] = pd.Timestamp(as_of)
    out["scored_at"] = pd.Timestamp(scored_at).tz_localize(None) if scored_at.tzinfo else pd.Timestamp(scored_at)
    return out


@dataclass(frozen=True)
class ScoresSummary:
    rows: int
    segments: dict[str, int]
    mean_score: float


def write_customer_scores(
    con: duckdb.DuckDBPyConnection, result: TrainingResult, version: str, as_of: date, scored_at: datetime
) -> ScoresSummary:
    """Score every known customer registered by the as-of date into ml.customer_scores, CHUNK_ROWS at a time.

    The features stream from the feature models a chunk at a time; each chunk's scores are appended to a temporary
    table, which replaces the warehouse table in one transaction at the end, so memory is bounded by the chunk size.
    """
    reason_columns = ", ".join(f"reason_{i + 1} varchar" for i in range(N_REASONS))
    con.execute(
        f"create or replace temp table {_SCORES_STAGING} (customer_id varchar, score double, segment varchar, "
        f"action varchar, scorer varchar, horizon_days integer, reasons varchar, {reason_columns}, "
        "model_version varchar, as_of_date timestamp, scored_at timestamp)"
    )
    try:
        cutoffs = [scoring_cutoff(con, as_of)]
        with step(logger, "propensity: scoring", count_feature_rows(con, cutoffs), "customers") as progress:
            for chunk in feature_chunks(con, cutoffs, CHUNK_ROWS):
                con.register("_scores_chunk", scores_frame(chunk, result, version, as_of, scored_at))
                try:
                    con.execute(f"insert into {_SCORES_STAGING} by name select * from _scores_chunk")
                finally:
                    con.unregister("_scores_chunk")
                progress.advance(len(chunk))
        rows = replace_table_from_query(
            con, CUSTOMER_SCORES_TABLE, f"select * from {_SCORES_STAGING}", casts={"as_of_date": "date"}
        )
        segments = dict(con.execute(
            f"select segment, count(*) from {_SCORES_STAGING} group by segment order by segment"
        ).fetchall())
        mean = scalar(con, f"select avg(score) from {_SCORES_STAGING}")
    finally:
        con.execute(f"drop table if exists {_SCORES_STAGING}")
    return ScoresSummary(
        rows=rows,
        segments={str(k): int(v) for k, v in segments.items()},
        mean_score=float(mean) if mean is not None else 0.0,
    )
