"""ML assets: the propensity model and its scores, downstream of the dbt marts they read.

The code that trains and scores lives in `ml/` (no Dagster there); these assets wire it to the warehouse,
write schema `ml`, and put the metrics on the materializations. Every table is replaced whole (or, for the
run log, by version), so a rerun on the same data writes the same rows.
"""

import json
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    multi_asset,
)

from ml.anomalies import detect_order_anomalies
from ml.propensity.model import train_and_evaluate
from ml.propensity.registry import ModelNotFoundError, load_model, save_model
from ml.propensity.tables import (
    CUSTOMER_SCORES_TABLE,
    MODEL_RUNS_TABLE,
    customer_scores_table,
    model_run_record,
)
from ml.segments.features import build_segment_features
from ml.segments.model import fit_segments
from ml.warehouse import ML_SCHEMA, InsufficientDataError, read_as_of_date, replace_table, upsert_rows
from orchestration.defs.ml.common import ML_GROUP, absent_table, metric_metadata, skipped
from orchestration.defs.resources import WarehouseResource

MODEL_RUNS_KEY = AssetKey([ML_SCHEMA, MODEL_RUNS_TABLE])
CUSTOMER_SCORES_KEY = AssetKey([ML_SCHEMA, CUSTOMER_SCORES_TABLE])

# The relations ml/propensity/features.py reads (and mart_kpis for the as-of date).
PROPENSITY_INPUTS = [
    AssetKey(["marts", "dim_customers"]),
    AssetKey(["marts", "fct_order_lines"]),
    AssetKey(["marts", "mart_kpis"]),
    AssetKey(["intermediate", "int_customer_orders"]),
    AssetKey(["staging", "stg_shop__email_events"]),
    AssetKey(["staging", "stg_shop__web_sessions"]),
]


@asset(
    key=MODEL_RUNS_KEY,
    deps=PROPENSITY_INPUTS,
    group_name=ML_GROUP,
    kinds={"python", "scikitlearn", "duckdb"},
    description=(
        "Trains the 30-day purchase-propensity model (random forest vs gradient boosting, calibrated), "
        "evaluates it on the latest full 30-day window against an RFM baseline, saves it under "
        "COMPTOIR_HOME/models and logs the run (one row per model version) in ml.model_runs."
    ),
)
def propensity_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    trained_at = datetime.now(UTC)
    with warehouse.connect() as con:
        as_of = read_as_of_date(con)
        try:
            result = train_and_evaluate(con, as_of)
        except InsufficientDataError as error:
            # The run log keeps earlier versions; nothing new to add.
            return skipped(context, con, [], error)
        saved = save_model(result, warehouse.models_path, trained_at=trained_at)
        upsert_rows(
            con,
            MODEL_RUNS_TABLE,
            "version",
            model_run_record(result, saved.version, trained_at, as_of),
            casts={"as_of_date": "date", "eval_cutoff": "date", "validation_cutoff": "date"},
        )
    context.log.info(
        f"propensity {saved.version}: ROC AUC {result.metrics['roc_auc']:.3f} "
        f"(RFM baseline {result.baseline_metrics['roc_auc']:.3f})"
    )
    return MaterializeResult(
        metadata={
            "summary": (
                f"{saved.version} ({result.model_name}): ROC AUC {result.metrics['roc_auc']:.3f} vs RFM baseline "
                f"{result.baseline_metrics['roc_auc']:.3f}, PR AUC {result.metrics['pr_auc']:.3f} vs "
                f"{result.baseline_metrics['pr_auc']:.3f}, top-decile lift {result.metrics['top_decile_lift']:.2f}"
            ),
            "version": saved.version,
            "model": result.model_name,
            "calibration": result.calibration_method,
            "as_of_date": as_of.isoformat(),
            "eval_cutoff": result.eval_cutoff.isoformat(),
            "training_cutoffs": len(result.training_cutoffs),
            "model_path": MetadataValue.path(str(saved.path)),
            **metric_metadata(result.metrics),
            **metric_metadata(result.baseline_metrics, "baseline_"),
            **metric_metadata(result.validation_auc, "validation_auc_"),
        }
    )


@asset(
    key=CUSTOMER_SCORES_KEY,
    deps=[MODEL_RUNS_KEY, *PROPENSITY_INPUTS],
    group_name=ML_GROUP,
    kinds={"python", "duckdb"},
    description=(
        "Every known customer's chance (0-100) of a completed order in the 30 days after the as-of date, "
        "from the latest saved propensity model: Hot >= 70 (call now), Warm 40-69 (follow up within 48 hours), "
        "Cold < 40 (automated e-mail nurture), with the three strongest reasons in plain words."
    ),
)
def customer_scores(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    try:
        result, metadata = load_model(warehouse.models_path)
    except ModelNotFoundError as error:
        with warehouse.connect() as con:
            return skipped(context, con, [CUSTOMER_SCORES_TABLE], error)
    version = str(metadata["version"])
    scored_at = datetime.now(UTC)
    with warehouse.connect() as con:
        as_of = read_as_of_date(con)
        table = customer_scores_table(con, result, version, as_of, scored_at)
        replace_table(con, CUSTOMER_SCORES_TABLE, table, casts={"as_of_date": "date"})
    segments = table["segment"].value_counts()
    context.log.info(f"scored {len(table)} customers with {version}: {segments.to_dict()}")
    counts = {name: int(segments.get(name, 0)) for name in ("Hot", "Warm", "Cold")}
    return MaterializeResult(
        metadata={
            "summary": f"{len(table):,} customers: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()),
            "rows": len(table),
            "model_version": version,
            "as_of_date": as_of.isoformat(),
            **{f"segment_{name.lower()}": count for name, count in counts.items()},
            "mean_score": float(table["score"].mean()) if len(table) else 0.0,
        }
    )


@asset_check(asset=CUSTOMER_SCORES_KEY, description="Scores lie in 0-100, one row per customer, segments match.")
def customer_scores_are_consistent(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, CUSTOMER_SCORES_TABLE)) is not None:
        return absent
    with warehouse.connect() as con:
        row = con.execute(
            f"""
            select
                count(*) filter (where score < 0 or score > 100 or score is null),
                count(*) - count(distinct customer_id),
                count(*) filter (where segment is distinct from case
                    when score >= 70 then 'Hot' when score >= 40 then 'Warm' else 'Cold' end),
                count(*) filter (where reason_1 is null or reason_1 = '')
            from {ML_SCHEMA}.{CUSTOMER_SCORES_TABLE}
            """
        ).fetchone()
    out_of_range, duplicates, wrong_segment, no_reason = row or (0, 0, 0, 0)
    return AssetCheckResult(
        passed=not (out_of_range or duplicates or wrong_segment or no_reason),
        metadata={
            "out_of_range": out_of_range,
            "duplicate_customers": duplicates,
            "wrong_segment": wrong_segment,
            "without_reason": no_reason,
        },
    )


@asset_check(
    asset=MODEL_RUNS_KEY,
    description="The latest model ranks next-30-day buyers better than the RFM baseline (ROC AUC).",
)
def propensity_beats_rfm_baseline(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, MODEL_RUNS_TABLE)) is not None:
        return absent
    with warehouse.connect() as con:
        row = con.execute(
            f"select version, roc_auc, baseline_roc_auc from {ML_SCHEMA}.{MODEL_RUNS_TABLE} "
            "order by trained_at desc limit 1"
        ).fetchone()
    if row is None:
        return AssetCheckResult(passed=False, metadata={"reason": "no model run recorded"})
    version, roc_auc, baseline = row
    return AssetCheckResult(
        passed=roc_auc is not None and baseline is not None and roc_auc > baseline,
        # A weaker model is still usable; say so loudly instead of failing the build.
        severity=AssetCheckSeverity.WARN,
        metadata={"version": version, "roc_auc": roc_auc, "baseline_roc_auc": baseline},
    )


# --- behavioural segments -----------------------------------------------------------------------

CUSTOMER_SEGMENTS_KEY = AssetKey([ML_SCHEMA, "customer_segments"])
SEGMENT_PROFILES_KEY = AssetKey([ML_SCHEMA, "segment_profiles"])
SEGMENT_INPUTS = [
    AssetKey(["marts", "dim_customers"]),
    AssetKey(["marts", "fct_order_lines"]),
    AssetKey(["marts", "mart_kpis"]),
    AssetKey(["intermediate", "int_customer_orders"]),
]


@multi_asset(
    specs=[
        AssetSpec(
            CUSTOMER_SEGMENTS_KEY,
            deps=SEGMENT_INPUTS,
            group_name=ML_GROUP,
            kinds={"python", "scikitlearn", "duckdb"},
            description=(
                "Behavioural segment of every known customer with a sale by the as-of date: K-means on category "
                "spend shares, average order value, frequency, recency and return rate (k by silhouette, 3-8)."
            ),
        ),
        AssetSpec(
            SEGMENT_PROFILES_KEY,
            deps=SEGMENT_INPUTS,
            group_name=ML_GROUP,
            kinds={"python", "duckdb"},
            description="One row per behavioural segment: its automatic name, size, revenue share and profile.",
        ),
    ],
    name="behavioural_segments",
)
def behavioural_segments(context: AssetExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect() as con:
        as_of = read_as_of_date(con)
        try:
            result = fit_segments(build_segment_features(con, as_of))
        except InsufficientDataError as error:
            yield skipped(context, con, ["customer_segments"], error, asset_key=CUSTOMER_SEGMENTS_KEY)
            yield skipped(context, con, ["segment_profiles"], error, asset_key=SEGMENT_PROFILES_KEY)
            return
        profiles = result.segment_profiles.copy()
        # The choice of k travels with the profiles, so a dashboard can show how well separated they are.
        profiles["k"] = result.k
        profiles["silhouette_score"] = result.silhouette_scores[result.k]
        profiles["silhouette_by_k"] = json.dumps(result.metadata()["silhouette_scores"], sort_keys=True)
        replace_table(con, "customer_segments", result.customer_segments)
        replace_table(con, "segment_profiles", profiles)
    context.log.info(f"{len(result.customer_segments)} customers in {result.k} segments")
    sizes = dict(zip(profiles["segment_name"], profiles["customers"].astype(int).tolist(), strict=True))
    yield MaterializeResult(
        asset_key=CUSTOMER_SEGMENTS_KEY,
        metadata={
            "summary": f"{len(result.customer_segments):,} customers in {result.k} segments",
            "rows": len(result.customer_segments),
            "k": result.k,
            "segments": MetadataValue.json(sizes),
        },
    )
    yield MaterializeResult(
        asset_key=SEGMENT_PROFILES_KEY,
        metadata={
            "summary": f"k = {result.k} by silhouette ({result.silhouette_scores[result.k]:.3f}): "
            + ", ".join(sizes),
            "rows": len(profiles),
            "k": result.k,
            "silhouette": float(result.silhouette_scores[result.k]),
            "silhouette_by_k": MetadataValue.json(result.metadata()["silhouette_scores"]),
        },
    )


# --- order anomalies ----------------------------------------------------------------------------

ORDER_ANOMALIES_KEY = AssetKey([ML_SCHEMA, "order_anomalies"])


@asset(
    key=ORDER_ANOMALIES_KEY,
    deps=[
        AssetKey(["marts", "fct_orders"]),
        AssetKey(["marts", "fct_order_lines"]),
        AssetKey(["marts", "dim_products"]),
        AssetKey(["marts", "dim_customers"]),
    ],
    group_name=ML_GROUP,
    kinds={"python", "scikitlearn", "duckdb"},
    description=(
        "Every completed sale order scored for how unusual it is (isolation forest over robust deviations of "
        "amount, items, units of one product, price against list price, hour, a new account's first order); "
        "the top 0.5 % are flagged for review with a readable reason."
    ),
)
def order_anomalies(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.connect() as con:
        try:
            table = detect_order_anomalies(con)
        except InsufficientDataError as error:
            return skipped(context, con, ["order_anomalies"], error)
        replace_table(
            con, "order_anomalies", table, casts={"order_date": "date", "order_amount": "decimal(18,2)"}
        )
    flagged = table[table["is_anomaly"]]
    context.log.info(f"{len(flagged)} of {len(table)} sale orders flagged as anomalies")
    return MaterializeResult(
        metadata={
            "summary": f"{len(flagged):,} of {len(table):,} sale orders flagged for review",
            "rows": len(table),
            "flagged": len(flagged),
            "flagged_amount": float(flagged["order_amount"].sum()),
            "top_reasons": MetadataValue.json(flagged["reason"].head(5).tolist()),
        }
    )


ml_assets = [propensity_model, customer_scores, behavioural_segments, order_anomalies]
ml_asset_checks = [customer_scores_are_consistent, propensity_beats_rfm_baseline]
