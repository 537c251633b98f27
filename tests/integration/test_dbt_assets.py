"""dbt in Dagster: the asset graph, dbt tests as checks, a full warehouse run, the sensor, the schedule.

Real Dagster, real dbt, real DuckDB: no mocks.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    build_sensor_context,
    materialize,
)
from dagster_dbt import DbtCliResource, DbtProject

from orchestration.contract import SOURCES
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.dbt.results import summarise_run_results
from orchestration.dbt.runs import RUN_RESULTS_FILE, run_artifacts_dir
from orchestration.definitions import WAREHOUSE_JOB_NAME, defs
from orchestration.defs.dbt.assets import build_dbt_assets
from orchestration.defs.dbt.resources import dbt_project
from orchestration.defs.dbt.schedules import DAILY_SCHEDULE_NAME
from orchestration.defs.dbt.sensors import LANDING_SENSOR_NAME, build_landing_sensor
from orchestration.defs.ml import ALL_ML_ASSETS, ALL_ML_CHECKS
from orchestration.defs.ml.schedules import (
    REFIT_JOB_NAME,
    REFRESH_JOB_NAME,
    WEEKLY_REFIT_KEYS,
    WEEKLY_SCHEDULE_NAME,
)
from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.resources import WarehouseResource


def _manifest() -> dict:
    return json.loads((dbt_project.manifest_path).read_text(encoding="utf-8"))


def _ancestors(graph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


# --- the graph -------------------------------------------------------------------------------


def test_graph_reads_raw_then_staging_then_marts() -> None:
    graph = defs.resolve_asset_graph()
    raw_orders = AssetKey(["raw", "orders"])
    staged = AssetKey(["staging", "stg_shop__order_lines"])
    fact = AssetKey(["marts", "fct_order_lines"])
    assert raw_orders in _ancestors(graph, staged)
    assert staged in _ancestors(graph, fact)
    assert graph.get(staged).group_name == "staging"
    assert graph.get(fact).group_name == "marts"
    assert graph.get(fact).description, "marts carry their dbt description"


def test_every_dbt_model_is_an_asset_keyed_by_its_schema() -> None:
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    for node in _manifest()["nodes"].values():
        if node["resource_type"] == "model" and node["config"]["materialized"] != "ephemeral":
            assert AssetKey([node["schema"], node["name"]]) in keys, node["unique_id"]


def test_every_dbt_source_maps_to_the_asset_that_writes_it_and_load_rejects_is_declared() -> None:
    graph = defs.resolve_asset_graph()
    schemas = set()
    for source in _manifest()["sources"].values():
        # raw/<table> from the raw-load assets, ml/<table> from the ML assets, pipeline/<table> declared beside
        # the publish step (written by the dbt and publish steps).
        assert AssetKey([source["schema"], source["name"]]) in set(graph.get_all_asset_keys()), source["unique_id"]
        schemas.add(source["schema"])
    assert schemas == {"raw", "ml", "pipeline"}
    rejects = graph.get(AssetKey(["raw", "load_rejects"]))
    assert not rejects.is_materializable
    assert {AssetKey(["raw", s.name]) for s in SOURCES} <= set(rejects.parent_keys)
    job = defs.resolve_job_def(WAREHOUSE_JOB_NAME)
    assert AssetKey(["raw", "load_rejects"]) not in job.asset_layer.selected_asset_keys


def test_dbt_tests_on_models_are_asset_checks() -> None:
    check_keys = set(defs.resolve_asset_graph().asset_check_keys)
    manifest = _manifest()
    expected = set()
    for test in manifest["nodes"].values():
        attached = test.get("attached_node")
        if test["resource_type"] != "test" or not attached:
            continue
        model = manifest["nodes"][attached]
        if model["config"]["materialized"] == "ephemeral":
            continue
        expected.add((AssetKey([model["schema"], model["name"]]), test["name"]))
    assert expected, "the project has tests on its models"
    assert {(k.asset_key, k.name) for k in check_keys} >= expected
    assert (AssetKey(["marts", "fct_order_lines"]), "unique_fct_order_lines_order_line_id") in expected


def test_the_warehouse_job_loads_raw_then_builds_dbt_in_one_process() -> None:
    job = defs.resolve_job_def(WAREHOUSE_JOB_NAME)
    ml_steps = {a.node_def.name for a in [*ALL_ML_ASSETS, *ALL_ML_CHECKS]}
    publish_steps = {defs.resolve_assets_def(AssetKey(key)).node_def.name
                     for key in (["pipeline", "alerts"], ["published", "warehouse"], ["lake", "exports"])}
    expected = {"dbt_models", *(f"raw__{s.name}" for s in SOURCES), *ml_steps, *publish_steps}
    assert {node.name for node in job.nodes} == expected
    assert job.executor_def.name == "in_process"


def test_the_daily_schedule_refreshes_everything_but_the_model_refits() -> None:
    schedule = defs.resolve_schedule_def(DAILY_SCHEDULE_NAME)
    assert schedule.job_name == REFRESH_JOB_NAME
    assert schedule.cron_schedule == "0 6 * * *"
    daily = defs.resolve_job_def(REFRESH_JOB_NAME).asset_layer.selected_asset_keys
    everything = defs.resolve_job_def(WAREHOUSE_JOB_NAME).asset_layer.selected_asset_keys
    assert daily == everything - set(WEEKLY_REFIT_KEYS)
    assert AssetKey(["ml", "customer_scores"]) in daily and AssetKey(["marts", "fct_orders"]) in daily


def test_the_weekly_schedule_refits_the_models_and_refreshes_what_reads_them() -> None:
    schedule = defs.resolve_schedule_def(WEEKLY_SCHEDULE_NAME)
    assert schedule.job_name == REFIT_JOB_NAME and schedule.cron_schedule == "0 5 * * 1"
    weekly = defs.resolve_job_def(REFIT_JOB_NAME).asset_layer.selected_asset_keys
    assert set(WEEKLY_REFIT_KEYS) <= weekly
    assert AssetKey(["ml", "customer_scores"]) in weekly
    assert AssetKey(["raw", "orders"]) not in weekly and AssetKey(["marts", "fct_orders"]) not in weekly


def test_the_reports_have_their_own_schedules_and_no_build_writes_them() -> None:
    """Mondays 07:00 and the 1st at 07:00, after the 06:00 refresh; each report job selects its report only."""
    reports = {AssetKey(["reports", "weekly"]), AssetKey(["reports", "monthly"])}
    for kind, cron in (("weekly", "0 7 * * 1"), ("monthly", "0 7 1 * *")):
        schedule = defs.resolve_schedule_def(f"report_{kind}")
        assert (schedule.job_name, schedule.cron_schedule) == (f"report_{kind}", cron)
        assert defs.resolve_job_def(schedule.job_name).asset_layer.selected_asset_keys == {
            AssetKey(["reports", kind])}
    for job in (WAREHOUSE_JOB_NAME, REFRESH_JOB_NAME, REFIT_JOB_NAME, "warehouse_full_refresh"):
        assert not reports & defs.resolve_job_def(job).asset_layer.selected_asset_keys, job
    assert all(AssetKey(["published", "warehouse"]) in defs.resolve_assets_def(key).dependency_keys
               for key in reports)


# --- a whole run -----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_warehouse_job_builds_the_sample_with_every_check_passing(built_sample: Path) -> None:
    """The session's sample build (`comptoir build`: the warehouse job, in a persistent Dagster instance under its
    home) read back from Dagster's own records: every step succeeded and every dbt test, run as an asset check,
    passed."""
    from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

    home = built_sample.parent
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        (run,) = instance.get_runs(filters=RunsFilter(job_name=WAREHOUSE_JOB_NAME), limit=1)
        assert run.status == DagsterRunStatus.SUCCESS
        evaluations = [entry.dagster_event.event_specific_data for entry in instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
        materialized = {entry.dagster_event.asset_key for entry in instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)}
    assert evaluations, "dbt tests ran as asset checks"
    # Every dbt test passed; the only failed checks are the alert rules that fire on the sample (warnings: its
    # products out of stock), exactly those with an open alert in pipeline.alerts.
    failed = {(tuple(e.asset_key.path), e.check_name) for e in evaluations if not e.passed}
    with duckdb.connect(str(built_sample), read_only=True) as con:
        firing = {rule for (rule,) in con.execute(
            "select distinct rule from pipeline.alerts where resolved_at is null").fetchall()}
    assert failed == {(("pipeline", "alerts"), rule) for rule in firing} and "stockout" in firing
    assert {AssetKey(["raw", "orders"]), AssetKey(["staging", "stg_shop__order_lines"]),
            AssetKey(["marts", "fct_order_lines"]), AssetKey(["marts", "fct_orders"]),
            AssetKey(["marts", "mart_serving_sale_orders"])} <= materialized

    run_results = run_artifacts_dir(built_sample, run.run_id) / RUN_RESULTS_FILE
    summary = summarise_run_results(json.loads(run_results.read_text()))
    assert summary.success and summary.models_built > 0 and summary.tests_passed > 0
    # dbt wrote the warehouse the resource named, not the default one.
    with duckdb.connect(str(built_sample), read_only=True) as con:
        raw_lines = con.execute("select count(*) from raw.orders").fetchone()[0]
        fact_lines = con.execute("select count(*) from marts.fct_order_lines").fetchone()[0]
        quarantined = con.execute(
            "select count(*) from staging.dq_quarantine where source = 'orders'"
        ).fetchone()[0]
    assert 0 < fact_lines <= raw_lines
    assert quarantined > 0  # the sample carries injected defects


@pytest.mark.slow
def test_a_failing_dbt_test_fails_the_step_naming_it(tmp_path: Path) -> None:
    # A private copy of the project with one test that always fails, on a model with no inputs.
    project_dir = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project_dir / "tests" / "always_fails.sql").write_text("select rule from {{ ref('dq_rules') }}\n")
    project = DbtProject(project_dir=project_dir)
    assets = build_dbt_assets(project)  # parses the copy: its manifest did not exist
    assert project.manifest_path.exists()

    database = tmp_path / "home" / "comptoir.duckdb"
    result = materialize(
        [assets],
        selection=[AssetKey(["staging", "dq_rules"])],
        resources={
            "dbt": DbtCliResource(project_dir=project, dbt_executable=str(dbt_executable())),
            "warehouse": WarehouseResource(seeds_dir=str(tmp_path), database=str(database)),
        },
        raise_on_error=False,
    )
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["always_fails"]
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    assert "always_fails" in failure.user_failure_data.description
    assert database.exists()


# --- the sensor ------------------------------------------------------------------------------


def _age(*paths: Path, seconds: int = 120) -> None:
    """Date files `seconds` back, past the sensor's quiet period (a folder: every file in it)."""
    past = time.time_ns() - seconds * 1_000_000_000
    for path in paths:
        for file in path.iterdir() if path.is_dir() else [path]:
            os.utime(file, ns=(past, past))


def _tick(sensor, instance: DagsterInstance, cursor: str | None):
    return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))


def test_sensor_requests_a_run_when_a_landing_file_changes_and_not_otherwise(make_seeds) -> None:
    folder = make_seeds()
    _age(folder)
    sensor = build_landing_sensor(folder, WAREHOUSE_JOB_NAME)
    assert sensor.name == LANDING_SENSOR_NAME
    with DagsterInstance.ephemeral() as instance:
        first = _tick(sensor, instance, None)  # nothing loaded yet
        assert len(first.run_requests) == 1 and first.cursor

        unchanged = _tick(sensor, instance, first.cursor)
        assert unchanged.run_requests == [] and "no landing file changed" in unchanged.skip_message

        with (folder / "orders.csv").open("a") as handle:
            handle.write("O3,1,C1,P1,1,9.99,2024-03-03T09:00:00,completed,\n")
        just_written = _tick(sensor, instance, first.cursor)
        assert just_written.run_requests == [] and "waiting" in just_written.skip_message

        _age(folder / "orders.csv", seconds=60)
        changed = _tick(sensor, instance, first.cursor)
        assert len(changed.run_requests) == 1
        assert changed.run_requests[0].tags["comptoir/changed_files"] == "orders.csv"
        assert changed.cursor != first.cursor
        assert _tick(sensor, instance, changed.cursor).run_requests == []


def test_sensor_waits_for_required_files(make_seeds) -> None:
    folder = make_seeds({"products.parquet": None})
    _age(folder)
    with DagsterInstance.ephemeral() as instance:
        tick = _tick(build_landing_sensor(folder, WAREHOUSE_JOB_NAME), instance, None)
    assert tick.run_requests == [] and "products.parquet" in tick.skip_message


def test_sensor_first_tick_skips_files_the_last_raw_load_read(make_seeds, tmp_path: Path) -> None:
    folder = make_seeds()
    _age(folder)
    with DagsterInstance.ephemeral() as instance:
        loaded = materialize(
            raw_assets,
            instance=instance,
            resources={"warehouse": WarehouseResource(seeds_dir=str(folder), database=str(tmp_path / "w.duckdb"))},
        )
        assert loaded.success
        sensor = build_landing_sensor(folder, WAREHOUSE_JOB_NAME)
        first = _tick(sensor, instance, None)
        assert first.run_requests == [] and first.cursor
        (folder / "customers.json").write_text((folder / "customers.json").read_text() + "\n")
        _age(folder / "customers.json", seconds=60)
        assert len(_tick(sensor, instance, first.cursor).run_requests) == 1
