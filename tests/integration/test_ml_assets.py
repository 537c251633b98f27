"""The ML assets on the committed sample: tables in schema `ml`, metrics as metadata, reruns reproducible.

`built_sample` is the warehouse `comptoir build` made (raw -> dbt -> ML in one Dagster run); the
reproducibility test materializes the ML assets again with Dagster on a copy of it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import AssetKey, materialize

from orchestration.definitions import WAREHOUSE_JOB_NAME, defs
from orchestration.defs.ml.assets import ml_asset_checks, ml_assets
from orchestration.defs.resources import WarehouseResource

pytestmark = pytest.mark.slow

ML_SOURCES_YML = Path(__file__).resolve().parents[2] / "dbt_project/models/ml/_ml__sources.yml"


def _documented_ml_tables() -> dict[str, list[str]]:
    sources = yaml.safe_load(ML_SOURCES_YML.read_text())["sources"]
    (ml,) = [s for s in sources if s["name"] == "ml"]
    return {t["name"]: [c["name"] for c in t["columns"]] for t in ml["tables"]}


@pytest.fixture(scope="module")
def con(built_sample: Path):
    with duckdb.connect(str(built_sample), read_only=True) as connection:
        yield connection


def test_every_ml_table_is_built_with_exactly_its_documented_columns(con) -> None:
    for table, documented in _documented_ml_tables().items():
        built = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'ml' and table_name = ? "
            "order by ordinal_position", [table],
        ).fetchall()]
        assert built, f"ml.{table} was not built"
        assert sorted(built) == sorted(documented), f"ml.{table}: built {built}, documented {documented}"


def test_the_ml_assets_sit_downstream_of_the_marts_and_run_in_the_warehouse_job() -> None:
    """marts -> features -> ml: the propensity and CLV assets depend on the dbt feature models they read, only."""
    graph = defs.resolve_asset_graph()
    scores = graph.get(AssetKey(["ml", "customer_scores"]))
    assert AssetKey(["ml", "model_runs"]) in scores.parent_keys
    features = AssetKey(["features", "feat_propensity__customer_cutoffs"])
    assert features in scores.parent_keys
    assert AssetKey(["marts", "dim_customers"]) in graph.get(features).parent_keys
    clv = graph.get(AssetKey(["ml", "customer_clv"]))
    assert clv.parent_keys == {AssetKey(["features", "feat_clv__customer_summary"])}
    for key in (AssetKey(["ml", "model_runs"]), AssetKey(["ml", "customer_scores"]), clv.key):
        warehouse_parents = {k for k in graph.get(key).parent_keys if k.path[0] != "ml"}
        assert warehouse_parents and {k.path[0] for k in warehouse_parents} == {"features"}, key
    job = defs.resolve_job_def(WAREHOUSE_JOB_NAME)
    assert AssetKey(["ml", "customer_scores"]) in job.asset_layer.selected_asset_keys


# What each ML asset of segments, anomalies, forecasts and stock-outs reads: dbt feature models only.
FEATURE_DEPS = {
    "segment_model": {"feat_segments__customer_behaviour", "feat_segments__category_shares"},
    "customer_segments": {"feat_segments__customer_behaviour", "feat_segments__category_shares"},
    "segment_profiles": {"feat_segments__customer_behaviour", "feat_segments__category_shares"},
    "order_anomalies": {"feat_anomalies__orders"},
    "forecast_accuracy": {"feat_forecast__daily_series", "feat_forecast__markets", "feat_as_of_date"},
    "forecast_daily_sales": {"feat_forecast__daily_series", "feat_forecast__markets", "feat_as_of_date"},
    "stockout_forecast": {"feat_stockout__products", "feat_as_of_date"},
}


def test_segment_anomaly_and_forecast_assets_read_the_feature_models_built_from_the_marts() -> None:
    """marts -> features -> ml in the asset graph: each ML asset's warehouse inputs are dbt feature models."""
    graph = defs.resolve_asset_graph()
    for table, models in FEATURE_DEPS.items():
        parents = graph.get(AssetKey(["ml", table])).parent_keys
        warehouse_parents = {key for key in parents if key.path[0] != "ml"}
        assert warehouse_parents == {AssetKey(["features", model]) for model in models}, table
        for model in models:
            feature = graph.get(AssetKey(["features", model]))  # a dbt model of the graph, not a stub
            assert feature.is_materializable and feature.parent_keys, model


# --- propensity ------------------------------------------------------------------------------


def test_every_known_customer_registered_by_the_as_of_date_is_scored_once(con) -> None:
    expected = con.execute(
        """
        select count(*) from staging.stg_shop__customers
        where registered_on <= (select max(as_of_date) from marts.mart_kpis)
        """
    ).fetchone()[0]
    scored, distinct = con.execute("select count(*), count(distinct customer_id) from ml.customer_scores").fetchone()
    assert scored == distinct == expected


def test_scores_segments_actions_and_reasons_follow_the_rules(con) -> None:
    rows = con.execute("select score, segment, action, reason_1, reason_2, reason_3 from ml.customer_scores").fetchall()
    actions = {"Hot": "Call now", "Warm": "Follow up within 48 hours", "Cold": "Automated email nurture"}
    for score, segment, action, *reasons in rows:
        assert 0 <= score <= 100
        assert segment == ("Hot" if score >= 70 else "Warm" if score >= 40 else "Cold")
        assert action == actions[segment]
        assert all(reasons) and len(set(reasons)) == 3
    assert {r[1] for r in rows} == set(actions), "the sample has customers in every segment"


def test_the_model_beats_the_rfm_baseline_and_is_logged_with_its_saved_files(con, built_sample: Path) -> None:
    run = con.execute(
        "select version, roc_auc, baseline_roc_auc, pr_auc, baseline_pr_auc, top_decile_lift, metrics "
        "from ml.model_runs order by trained_at desc limit 1"
    ).fetchone()
    version, roc_auc, baseline_roc_auc, pr_auc, baseline_pr_auc, lift, metrics = run
    # The signal check: the model must rank better than RFM on the sample.
    assert roc_auc > baseline_roc_auc
    assert roc_auc >= 0.75 and pr_auc > baseline_pr_auc and lift > 2
    scored_with = con.execute("select distinct model_version from ml.customer_scores").fetchall()
    assert scored_with == [(version,)]
    saved = built_sample.parent / "models" / "propensity" / version
    assert (saved / "model.joblib").is_file()
    assert json.loads((saved / "metadata.json").read_text())["metrics"]["roc_auc"] == pytest.approx(roc_auc)
    assert json.loads(metrics)["roc_auc"] == pytest.approx(roc_auc)


# --- Dagster materialize, twice, on the same data -------------------------------------------------


def _metadata(result, node: str) -> dict:
    (event,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def test_ml_assets_materialize_with_metrics_as_metadata_and_reproduce_the_build(
    built_sample: Path, tmp_path: Path, con
) -> None:
    copy = tmp_path / "comptoir.duckdb"
    shutil.copyfile(built_sample, copy)
    result = materialize(
        [*ml_assets, *ml_asset_checks],
        resources={"warehouse": WarehouseResource(seeds_dir=str(tmp_path), database=str(copy))},
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks if not c.passed]

    model = _metadata(result, "ml__model_runs")
    logged = con.execute("select version, roc_auc, baseline_roc_auc from ml.model_runs").fetchall()
    assert (model["version"], pytest.approx(model["roc_auc"]), pytest.approx(model["baseline_roc_auc"])) in logged

    # Same data -> same model version and the same scores and reasons for every customer.
    columns = "customer_id, score, segment, reasons, model_version"
    with duckdb.connect(str(copy), read_only=True) as again:
        rerun = again.execute(f"select {columns} from ml.customer_scores order by customer_id").fetchall()
        runs = again.execute("select count(*), count(distinct version) from ml.model_runs").fetchone()
    original = con.execute(f"select {columns} from ml.customer_scores order by customer_id").fetchall()
    assert rerun == original
    assert runs[0] == runs[1], "a rerun replaces its model_runs row instead of adding one"
