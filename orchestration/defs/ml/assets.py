"""ML assets: the propensity model and its scores, downstream of the dbt feature models they read.

The code that trains and scores lives in `ml/` (no Dagster there); these assets wire it to the warehouse,
write schema `ml`, and put the metrics on the materializations. Every table is replaced whole (or, for the
run log, by version), so a rerun on the same data writes the same rows.
"""

import json
import math
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

# scikit-learn and the modules built on it are imported inside the assets that use them: loading the definitions
# (every `comptoir build`, before its first landing file is read) then costs no scikit-learn import (~2 s).
from ml.propensity import CUSTOMER_SCORES_TABLE, MODEL_RUNS_TABLE
from ml.propensity.baseline import MODEL_SCORER
from ml.propensity.features import FEATURE_TABLES as PROPENSITY_FEATURE_TABLES
from ml.propensity.features import read_cutoff_plan
from ml.segments.features import BEHAVIOUR_MODEL, SHARES_MODEL, read_segment_features
from ml.warehouse import FEATURES_SCHEMA, ML_SCHEMA, InsufficientDataError, replace_table, upsert_rows
from orchestration.defs.ml.common import ML_GROUP, absent_table, connect, metric_metadata, skipped, timed
from orchestration.defs.resources import WarehouseResource

MODEL_RUNS_KEY = AssetKey([ML_SCHEMA, MODEL_RUNS_TABLE])
CUSTOMER_SCORES_KEY = AssetKey([ML_SCHEMA, CUSTOMER_SCORES_TABLE])

# The dbt feature models ml/propensity/ reads (the as-of date and the cutoffs included): marts -> features -> ml.
PROPENSITY_INPUTS = [AssetKey(list(table)) for table in PROPENSITY_FEATURE_TABLES]


@asset(
    key=MODEL_RUNS_KEY,
    deps=PROPENSITY_INPUTS,
    group_name=ML_GROUP,
    kinds={"python", "scikitlearn", "duckdb"},
    description=(
        "Trains the purchase-propensity model (random forest vs gradient boosting, calibrated) for a label window "
        "that follows the shop's rhythm (30 days or more), evaluates it on the latest full window against an RFM "
        "baseline, decides which of the two is published (the model only when it beats the baseline by a margin "
        "beyond noise), saves it under COMPTOIR_HOME/models and logs the run (one row per model version, with "
        "the scorer in use and why) in ml.model_runs."
    ),
)
def propensity_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.propensity.model import train_and_evaluate
    from ml.propensity.registry import save_model
    from ml.propensity.tables import model_run_record

    trained_at = datetime.now(UTC)
    with timed(context, "ml.model_runs") as done, connect(warehouse) as con:
        as_of = read_cutoff_plan(con).as_of
        try:
            result = train_and_evaluate(con)
        except InsufficientDataError as error:
            # The run log keeps earlier versions; nothing new to add.
            return skipped(context, con, [], error)
        done(int(result.metrics["n"]))
        saved = save_model(result, warehouse.models_path, trained_at=trained_at)
        upsert_rows(
            con,
            MODEL_RUNS_TABLE,
            "version",
            model_run_record(result, saved.version, trained_at, as_of),
            casts={"as_of_date": "date", "eval_cutoff": "date", "validation_cutoff": "date"},
        )
    context.log.info(f"propensity {saved.version}: publishing the {result.scorer}: {result.scorer_reason}")
    return MaterializeResult(
        metadata={
            "summary": (
                f"{saved.version} ({result.model_name}, {result.horizon_days}-day window): ROC AUC "
                f"{result.metrics['roc_auc']:.3f} vs RFM baseline {result.baseline_metrics['roc_auc']:.3f}, PR AUC "
                f"{result.metrics['pr_auc']:.3f} vs {result.baseline_metrics['pr_auc']:.3f}, top-decile lift "
                f"{result.metrics['top_decile_lift']:.2f}; published: {result.scorer}"
            ),
            "version": saved.version,
            "model": result.model_name,
            "scorer": result.scorer,
            "scorer_reason": result.scorer_reason,
            "horizon_days": result.horizon_days,
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
        "Every known customer's chance (0-100) of a completed order in the label window after the as-of date "
        "(horizon_days), from the latest saved training's published scorer: the propensity model, or the RFM "
        "baseline when the model did not beat it (scorer): Hot >= 70 (call now), Warm 40-69 (follow up within "
        "48 hours), Cold < 40 (automated e-mail nurture), with the three strongest reasons in plain words."
    ),
)
def customer_scores(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.propensity.registry import ModelNotFoundError, load_model
    from ml.propensity.tables import write_customer_scores

    with timed(context, "ml.customer_scores") as done:
        try:
            result, metadata = load_model(warehouse.models_path)
        except ModelNotFoundError as error:
            with connect(warehouse) as con:
                return skipped(context, con, [CUSTOMER_SCORES_TABLE], error)
        version = str(metadata["version"])
        scored_at = datetime.now(UTC)
        with connect(warehouse) as con:
            as_of = read_cutoff_plan(con).as_of
            summary = write_customer_scores(con, result, version, as_of, scored_at)
        done(summary.rows)
    context.log.info(f"scored {summary.rows} customers with {version} ({result.scorer}): {summary.segments}")
    counts = {name: int(summary.segments.get(name, 0)) for name in ("Hot", "Warm", "Cold")}
    return MaterializeResult(
        metadata={
            "summary": f"{summary.rows:,} customers: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()),
            "rows": summary.rows,
            "model_version": version,
            "scorer": result.scorer,
            "as_of_date": as_of.isoformat(),
            **{f"segment_{name.lower()}": count for name, count in counts.items()},
            "mean_score": summary.mean_score,
        }
    )


@asset_check(asset=CUSTOMER_SCORES_KEY, description="Scores lie in 0-100, one row per customer, segments match.")
def customer_scores_are_consistent(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, CUSTOMER_SCORES_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
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
    description=(
        "The latest model ranks the window's buyers better than the RFM baseline by the required margin; "
        "when it does not, the baseline is what is published (a warning, not a failure)."
    ),
)
def propensity_beats_rfm_baseline(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, MODEL_RUNS_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        row = con.execute(
            f"select version, roc_auc, baseline_roc_auc, required_auc_margin, scorer, scorer_reason "
            f"from {ML_SCHEMA}.{MODEL_RUNS_TABLE} order by trained_at desc limit 1"
        ).fetchone()
    if row is None:
        return AssetCheckResult(passed=False, metadata={"reason": "no model run recorded"})
    version, roc_auc, baseline, margin, scorer, reason = row
    return AssetCheckResult(
        passed=scorer == MODEL_SCORER,
        # The baseline is published instead of a losing model: say so loudly instead of failing the build.
        severity=AssetCheckSeverity.WARN,
        metadata={"version": version, "roc_auc": roc_auc, "baseline_roc_auc": baseline,
                  "required_auc_margin": margin, "scorer": scorer, "reason": reason},
    )


# --- behavioural segments -----------------------------------------------------------------------

CUSTOMER_SEGMENTS_KEY = AssetKey([ML_SCHEMA, "customer_segments"])
SEGMENT_PROFILES_KEY = AssetKey([ML_SCHEMA, "segment_profiles"])
SEGMENT_MODEL_KEY = AssetKey([ML_SCHEMA, "segment_model"])
# The feature models ml/segments/features.py reads (the as-of date is a column of the behaviour model).
SEGMENT_INPUTS = [AssetKey([FEATURES_SCHEMA, BEHAVIOUR_MODEL]), AssetKey([FEATURES_SCHEMA, SHARES_MODEL])]


@asset(
    key=SEGMENT_MODEL_KEY,
    deps=SEGMENT_INPUTS,
    group_name=ML_GROUP,
    kinds={"python", "scikitlearn"},
    description=(
        "Fits the behavioural segments (weekly): K-means on category spend shares, average order value, "
        "frequency, recency and return rate of the customers with a sale (k by silhouette, 3-8; fitted on a "
        "bounded seeded sample at scale), names them and saves the model under COMPTOIR_HOME/models/segments; "
        "ml.customer_segments assigns every customer with it."
    ),
)
def segment_model(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.segments.model import fit_segment_model
    from ml.segments.registry import save_segment_model

    with timed(context, "ml.segment_model") as done, connect(warehouse) as con:
        features = read_segment_features(con)
        done(len(features))
        try:
            model = fit_segment_model(features)
        except InsufficientDataError as error:
            # The segments keep whatever model was saved before; the assignment says when there is none.
            return skipped(context, con, [], error)
    path = save_segment_model(model, warehouse.models_path)
    silhouette = model.silhouette_scores[model.k]
    context.log.info(f"{model.version}: k = {model.k} (silhouette {silhouette:.3f}), {', '.join(model.names)}")
    return MaterializeResult(
        metadata={
            "summary": (
                f"{model.version}: k = {model.k} by silhouette ({silhouette:.3f}), fitted on {model.fit_rows:,} of "
                f"{model.customers:,} customers"
            ),
            "version": model.version,
            "k": model.k,
            "silhouette": float(silhouette),
            "silhouette_by_k": MetadataValue.json(
                {str(k): None if math.isnan(v) else round(v, 6) for k, v in model.silhouette_scores.items()}
            ),
            "customers": model.customers,
            "fit_rows": model.fit_rows,
            "names": MetadataValue.json(model.names),
            "model_path": MetadataValue.path(str(path)),
        }
    )


@multi_asset(
    specs=[
        AssetSpec(
            CUSTOMER_SEGMENTS_KEY,
            deps=[SEGMENT_MODEL_KEY, *SEGMENT_INPUTS],
            group_name=ML_GROUP,
            kinds={"python", "duckdb"},
            description=(
                "Behavioural segment of every known customer with a sale by the as-of date: the nearest centroid "
                "of the latest saved segment model (K-means on category spend shares, average order value, "
                "frequency, recency and return rate; k by silhouette, 3-8)."
            ),
        ),
        AssetSpec(
            SEGMENT_PROFILES_KEY,
            deps=[SEGMENT_MODEL_KEY, *SEGMENT_INPUTS],
            group_name=ML_GROUP,
            kinds={"python", "duckdb"},
            description="One row per behavioural segment: its automatic name, size, revenue share and profile.",
        ),
    ],
    name="behavioural_segments",
)
def behavioural_segments(context: AssetExecutionContext, warehouse: WarehouseResource):
    from ml.segments.model import assign_segments
    from ml.segments.registry import SegmentModelNotFoundError, load_segment_model

    with timed(context, "ml.customer_segments") as done, connect(warehouse) as con:
        try:
            model = load_segment_model(warehouse.models_path)
        except SegmentModelNotFoundError as error:
            yield skipped(context, con, ["customer_segments"], error, asset_key=CUSTOMER_SEGMENTS_KEY)
            yield skipped(context, con, ["segment_profiles"], error, asset_key=SEGMENT_PROFILES_KEY)
            return
        try:
            result = assign_segments(model, read_segment_features(con))
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
        done(len(result.customer_segments))
    context.log.info(f"{len(result.customer_segments)} customers in {result.k} segments ({model.version})")
    sizes = dict(zip(profiles["segment_name"], profiles["customers"].astype(int).tolist(), strict=True))
    yield MaterializeResult(
        asset_key=CUSTOMER_SEGMENTS_KEY,
        metadata={
            "summary": f"{len(result.customer_segments):,} customers in {result.k} segments ({model.version})",
            "rows": len(result.customer_segments),
            "k": result.k,
            "model_version": model.version,
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
            "model_version": model.version,
            "silhouette": float(result.silhouette_scores[result.k]),
            "silhouette_by_k": MetadataValue.json(result.metadata()["silhouette_scores"]),
        },
    )


# --- order anomalies ----------------------------------------------------------------------------

ORDER_ANOMALIES_KEY = AssetKey([ML_SCHEMA, "order_anomalies"])
# What ml/anomalies/features.py reads (its FEATURES_MODEL; named here, as importing ml.anomalies loads scikit-learn).
ANOMALY_INPUTS = [AssetKey([FEATURES_SCHEMA, "feat_anomalies__orders"])]


@asset(
    key=ORDER_ANOMALIES_KEY,
    deps=ANOMALY_INPUTS,
    group_name=ML_GROUP,
    kinds={"python", "scikitlearn", "duckdb"},
    description=(
        "Every completed sale order scored for how unusual it is (isolation forest over robust deviations of "
        "amount, items, units of one product, price against list price, hour, a new account's first order); "
        "the top 0.5 % are flagged for review with a readable reason."
    ),
)
def order_anomalies(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    from ml.anomalies import write_order_anomalies

    with timed(context, "ml.order_anomalies") as done, connect(warehouse) as con:
        try:
            result = write_order_anomalies(con)
        except InsufficientDataError as error:
            return skipped(context, con, ["order_anomalies"], error)
        done(result.rows)
    context.log.info(f"{result.flagged} of {result.rows} sale orders flagged as anomalies")
    return MaterializeResult(
        metadata={
            "summary": f"{result.flagged:,} of {result.rows:,} sale orders flagged for review",
            "rows": result.rows,
            "flagged": result.flagged,
            "flagged_amount": result.flagged_amount,
            "forest_fit_rows": result.fit_rows,
            "top_reasons": MetadataValue.json(result.top_reasons),
        }
    )


ml_assets = [propensity_model, customer_scores, segment_model, behavioural_segments, order_anomalies]
ml_asset_checks = [customer_scores_are_consistent, propensity_beats_rfm_baseline]
