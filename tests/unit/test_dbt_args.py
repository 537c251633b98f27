"""Pure dbt helpers: command lines, run_results summaries, manifest freshness, sensor cursors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from dagster import AssetKey

from orchestration.dbt.args import (
    FULL_REFRESH_TAG,
    SCOPE_TESTS_VAR,
    build_args,
    changed_build_args,
    is_full_refresh,
    parse_args,
    vars_arg,
    warehouse_build_args,
)
from orchestration.dbt.project import manifest_is_stale, project_inputs
from orchestration.dbt.project_state import (
    BUILT_PROJECT_FILE,
    UNIT_TESTED_FILE,
    project_changed_since_last_build,
    project_fingerprint,
    unit_tests_passed_on,
)
from orchestration.dbt.results import summarise_run_results
from orchestration.dbt.runs import run_artifacts_dir, seed_partial_parse
from orchestration.defs.dbt.sensors import changed_files, decode_cursor, encode_cursor, landing_fingerprint
from orchestration.defs.dbt.translator import ComptoirDbtTranslator

# --- command lines ---------------------------------------------------------------------------


def test_build_args_default_is_a_plain_build() -> None:
    assert build_args() == ["build"]


def test_build_args_with_selection_refresh_and_vars() -> None:
    args = build_args(
        select=["staging", "marts.core"], exclude="tag:slow", full_refresh=True,
        vars={"low_stock_threshold": 5, "as_of_date": "2025-06-30"}, fail_fast=True,
    )
    assert args == [
        "build", "--select", "staging", "marts.core", "--exclude", "tag:slow", "--full-refresh", "--fail-fast",
        "--vars", '{"as_of_date": "2025-06-30", "low_stock_threshold": 5}',
    ]


@pytest.mark.parametrize("select", [None, "", "  ", [], [""]])
def test_empty_selection_adds_no_flag(select: object) -> None:
    assert build_args(select=select) == ["build"]  # type: ignore[arg-type]


def test_vars_are_json_with_sorted_keys_and_empty_vars_add_nothing() -> None:
    assert vars_arg(None) == [] and vars_arg({}) == []
    flag, value = vars_arg({"b": 1, "a": None})
    assert flag == "--vars"
    assert json.loads(value) == {"a": None, "b": 1}
    assert value.index('"a"') < value.index('"b"')


def test_the_warehouse_build_is_incremental_with_scoped_tests_unless_a_full_refresh() -> None:
    assert warehouse_build_args() == ["build", "--vars", json.dumps({SCOPE_TESTS_VAR: True})]
    assert warehouse_build_args(unit_tests=False) == [
        "build", "--vars", json.dumps({SCOPE_TESTS_VAR: True}), "--exclude-resource-type", "unit_test"]
    assert warehouse_build_args(full_refresh=True) == ["build", "--full-refresh", "--vars",
                                                       json.dumps({SCOPE_TESTS_VAR: True})]
    assert warehouse_build_args(full_refresh=True, unit_tests=False) == warehouse_build_args(full_refresh=True)


def test_changed_build_args_rebuild_what_changed_since_the_state(tmp_path: Path) -> None:
    args = changed_build_args(tmp_path / "last")
    assert args[:3] == ["build", "--select", "state:modified+"] and "--full-refresh" in args
    assert args[args.index("--state") + 1] == str(tmp_path / "last") and "--defer" in args
    # the builds' vars: dbt reuses the last parse only when they are the same
    assert args[args.index("--vars") + 1] == json.dumps({SCOPE_TESTS_VAR: True})


def test_unit_tests_are_skipped_only_on_the_project_they_last_passed_on(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\nvars: {x: 1}\n")
    (project / "models" / "a.sql").write_text("select 1")
    before = project_fingerprint(project)
    assert project_fingerprint(project) == before
    runs = tmp_path / "runs"
    assert not unit_tests_passed_on(before, runs)
    (runs / "run-1").mkdir(parents=True)
    (runs / "run-1" / UNIT_TESTED_FILE).write_text(before)
    assert unit_tests_passed_on(before, runs)
    (project / "dbt_project.yml").write_text("name: p\nvars: {x: 2}\n")  # a var changes what models compute
    changed = project_fingerprint(project)
    assert changed != before and not unit_tests_passed_on(changed, runs)
    (project / "dbt_project.yml").write_text("name: p\nvars: {x: 1}\n")
    (project / "models" / "b.sql").write_text("select 2")  # a new model
    assert project_fingerprint(project) not in {before, changed}
    (project / "models" / "b.sql").unlink()
    assert project_fingerprint(project) == before
    # The latest mark decides: unit tests that passed later on another project do not vouch for this one.
    (runs / "run-2").mkdir()
    (runs / "run-2" / UNIT_TESTED_FILE).write_text(changed)
    os.utime(runs / "run-2" / UNIT_TESTED_FILE, ns=(2 * 10**18, 2 * 10**18))
    assert not unit_tests_passed_on(before, runs) and unit_tests_passed_on(changed, runs)



def test_a_changed_project_is_rebuilt_only_when_an_earlier_build_is_on_record(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert not project_changed_since_last_build("new", runs)  # a first build is a full build anyway
    (runs / "run-1").mkdir(parents=True)
    (runs / "run-1" / BUILT_PROJECT_FILE).write_text("old")
    assert project_changed_since_last_build("new", runs)
    assert not project_changed_since_last_build("old", runs)


@pytest.mark.parametrize(("tags", "expected"), [
    (None, False), ({}, False), ({FULL_REFRESH_TAG: "true"}, True), ({FULL_REFRESH_TAG: "True "}, True),
    ({FULL_REFRESH_TAG: "1"}, True), ({FULL_REFRESH_TAG: "false"}, False), ({"other": "true"}, False),
])
def test_a_full_refresh_is_asked_for_by_the_run_tag(tags: dict[str, str] | None, expected: bool) -> None:
    assert is_full_refresh(tags) is expected


def test_parse_args_write_into_the_given_target(tmp_path: Path) -> None:
    args = parse_args(tmp_path / "project", tmp_path / "scratch")
    assert args[0] == "parse" and "--quiet" in args
    assert args[args.index("--project-dir") + 1] == str(tmp_path / "project")
    assert args[args.index("--profiles-dir") + 1] == str(tmp_path / "project")
    assert args[args.index("--target-path") + 1] == str(tmp_path / "scratch")
    assert args[args.index("--log-path") + 1] == str(tmp_path / "scratch")
    assert args[args.index("--vars") + 1] == json.dumps({SCOPE_TESTS_VAR: True})  # the builds' vars


# --- run_results.json ------------------------------------------------------------------------


def _result(unique_id: str, status: str, failures: int | None = None, message: str | None = None) -> dict:
    return {"unique_id": unique_id, "status": status, "failures": failures, "message": message}


RUN_RESULTS = {
    "elapsed_time": 12.5,
    "results": [
        _result("model.comptoir.stg_shop__order_lines", "success"),
        _result("model.comptoir.fct_orders", "error", message="Binder Error: column x not found\nLINE 3"),
        _result("model.comptoir.dim_customers", "skipped"),
        _result("test.comptoir.unique_fct_order_lines_order_line_id.5c7e1ba", "pass", 0),
        _result("test.comptoir.not_null_fct_orders_order_id.1a2b3c4", "fail", 3),
        _result("test.comptoir.accepted_range_x.9f9f9f9", "warn", 1),
        _result("test.comptoir.reconcile_sources", "pass", 0),
        _result("unit_test.comptoir.base_shop__orders.orders_quarantine_rules", "pass"),
        _result("seed.comptoir.countries", "success"),
    ],
}


def test_summary_counts_models_and_tests() -> None:
    summary = summarise_run_results(RUN_RESULTS)
    assert summary.models_built == 1
    assert summary.tests_passed == 3  # two data tests and one unit test
    assert [r.name for r in summary.tests_failed] == ["not_null_fct_orders_order_id"]
    assert [r.name for r in summary.tests_warned] == ["accepted_range_x"]
    assert [r.name for r in summary.models_failed] == ["fct_orders"]
    assert [r.name for r in summary.skipped] == ["dim_customers"]
    assert summary.elapsed_seconds == 12.5
    assert not summary.success
    assert summary.headline() == "1 models built, 3 tests passed, 1 failed, 1 warned, 1 nodes skipped"


def test_failure_message_names_each_failed_node_and_why() -> None:
    message = summarise_run_results(RUN_RESULTS).failure_message()
    assert message.splitlines() == [
        "dbt build failed: 2 node(s) failed",
        "  model fct_orders: Binder Error: column x not found",
        "  test not_null_fct_orders_order_id (3 failing rows)",
        "  (1 downstream node(s) skipped)",
    ]


def test_unit_test_names_keep_their_model() -> None:
    summary = summarise_run_results(RUN_RESULTS)
    unit = next(r for r in summary.results if r.resource_type == "unit_test")
    assert unit.name == "base_shop__orders.orders_quarantine_rules"


def test_a_clean_run_succeeds_and_an_empty_one_too() -> None:
    clean = summarise_run_results({"results": [_result("model.comptoir.a", "success"),
                                               _result("test.comptoir.t.1", "pass", 0)]})
    assert clean.success and clean.headline() == "1 models built, 1 tests passed, 0 failed, 0 warned"
    assert summarise_run_results({}).success


# --- manifest freshness ----------------------------------------------------------------------


def _project(root: Path) -> Path:
    (root / "models" / "staging").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "dbt_project.yml").write_text("name: p\nmodel-paths: ['models']\n")
    (root / "models" / "staging" / "a.sql").write_text("select 1")
    return root


def _age_everything(root: Path, seconds: int) -> None:
    past = (os.stat(root).st_mtime_ns // 1_000_000_000 - seconds) * 1_000_000_000
    for path in [root, *root.rglob("*")]:
        os.utime(path, ns=(past, past))


def test_manifest_missing_is_stale(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert manifest_is_stale(project, project / "target" / "manifest.json")


def test_manifest_newer_than_every_input_is_fresh_until_a_file_changes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _age_everything(project, 100)
    manifest = project / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    assert not manifest_is_stale(project, manifest)
    (project / "models" / "staging" / "a.sql").write_text("select 2")
    assert manifest_is_stale(project, manifest)


def test_deleting_a_model_makes_the_manifest_stale(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "models" / "staging" / "b.sql").write_text("select 1")
    _age_everything(project, 100)
    manifest = project / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    _age_everything(project / "target", 50)  # parsed after the models were written, 50 s ago
    (project / "models" / "staging" / "b.sql").unlink()
    assert manifest_is_stale(project, manifest)


def test_project_inputs_skip_target_and_follow_dbt_project_paths(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    inputs = {p.relative_to(project).as_posix() for p in project_inputs(project)}
    assert "models/staging/a.sql" in inputs and "dbt_project.yml" in inputs and "macros" in inputs
    assert not any(p.startswith("target") for p in inputs)


# --- translator ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "key", "group"),
    [
        ({"resource_type": "source", "name": "orders", "schema": "raw",
          "fqn": ["comptoir", "staging", "shop", "orders"]}, ["raw", "orders"], "raw"),
        ({"resource_type": "model", "name": "stg_shop__order_lines", "schema": "staging",
          "fqn": ["comptoir", "staging", "stg_shop__order_lines"]}, ["staging", "stg_shop__order_lines"], "staging"),
        ({"resource_type": "model", "name": "dq_quarantine", "schema": "staging",
          "fqn": ["comptoir", "staging", "dq", "dq_quarantine"]}, ["staging", "dq_quarantine"], "quality"),
        ({"resource_type": "model", "name": "fct_orders", "schema": "marts",
          "fqn": ["comptoir", "marts", "core", "fct_orders"]}, ["marts", "fct_orders"], "marts"),
        ({"resource_type": "model", "name": "mart_data_quality", "schema": "marts",
          "fqn": ["comptoir", "marts", "quality", "mart_data_quality"]}, ["marts", "mart_data_quality"], "quality"),
    ],
)
def test_translator_keys_by_schema_and_groups_by_layer(props: dict, key: list[str], group: str) -> None:
    translator = ComptoirDbtTranslator()
    assert translator.get_asset_key(props) == AssetKey(key)
    assert translator.get_group_name(props) == group


def test_translator_uses_dbt_descriptions_and_says_when_one_is_missing() -> None:
    translator = ComptoirDbtTranslator()
    described = {"resource_type": "model", "name": "m", "description": " One row. "}
    assert translator.get_description(described) == "One row."
    assert "no description" in translator.get_description({"resource_type": "model", "name": "m", "description": ""})
    assert translator.settings.enable_asset_checks


# --- sensor cursor ---------------------------------------------------------------------------


def test_fingerprint_covers_contract_files_only(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text("a\n")
    (tmp_path / "README.md").write_text("not data")
    fingerprint = landing_fingerprint(tmp_path)
    assert list(fingerprint) == ["orders.csv"]
    assert fingerprint["orders.csv"][0] == 2


def test_changed_files_sees_additions_changes_and_removals() -> None:
    before = {"orders.csv": [10, 1], "inventory.csv": [5, 1]}
    after = {"orders.csv": [12, 2], "customers.json": [3, 2]}
    assert changed_files(before, after) == ["customers.json", "inventory.csv", "orders.csv"]
    assert changed_files(after, after) == []
    assert changed_files(None, after) == ["customers.json", "orders.csv"]


def test_cursor_round_trips_and_garbage_reads_as_none() -> None:
    fingerprint = {"orders.csv": [10, 123456789012345678]}
    assert decode_cursor(encode_cursor(fingerprint)) == fingerprint
    assert decode_cursor(None) is None and decode_cursor("not json") is None and decode_cursor("[1]") is None


def test_a_run_starts_from_the_newest_earlier_partial_parse(tmp_path: Path) -> None:
    database = tmp_path / "home" / "comptoir.duckdb"
    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    (project / "target" / "partial_parse.msgpack").write_bytes(b"project")
    target = run_artifacts_dir(database, "new-run")
    target.mkdir(parents=True)
    assert seed_partial_parse(target, database, project) == project / "target" / "partial_parse.msgpack"
    assert (target / "partial_parse.msgpack").read_bytes() == b"project"
    assert stat.S_IMODE((target / "partial_parse.msgpack").stat().st_mode) == 0o600  # the checkout's is 0644
    for n, run in enumerate(["older", "newer"]):
        folder = run_artifacts_dir(database, run)
        folder.mkdir()
        (folder / "partial_parse.msgpack").write_bytes(run.encode())
        os.utime(folder / "partial_parse.msgpack", ns=(n * 10**9, n * 10**9))
    (target / "partial_parse.msgpack").write_bytes(b"this run's own")
    os.utime(target / "partial_parse.msgpack", ns=(5 * 10**9, 5 * 10**9))
    seed_partial_parse(target, database, project)
    assert (target / "partial_parse.msgpack").read_bytes() == b"newer"
    (project / "target" / "partial_parse.msgpack").unlink()
    elsewhere = tmp_path / "elsewhere" / "comptoir.duckdb"
    assert seed_partial_parse(run_artifacts_dir(elsewhere, "run"), elsewhere, project) is None


def test_the_dbt_resource_knows_the_version_dbt_reports_without_asking_it() -> None:
    import re
    import subprocess

    from orchestration.dbt.project import dbt_executable
    from orchestration.defs.dbt.resources import dbt_resource

    reported = subprocess.run([str(dbt_executable()), "--version"], capture_output=True, text=True, check=True,
                              env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}).stdout
    assert str(dbt_resource()._cli_version) == re.search(r"(\d+\.\d+\.\d+)", reported).group(1)


def test_a_dbt_runtime_error_is_summarised_by_its_cause() -> None:
    """`comptoir build` prints the model and the database's message, not only dbt's "Runtime Error" header."""
    from orchestration.dbt.results import summarise_run_results

    message = (
        "Runtime Error in model fct_order_lines (models/marts/core/fct_order_lines.sql)\n"
        "  Out of Range Error: Overflow in multiplication of DECIMAL(18) (2000000000 * 9999999999999).\n"
    )
    summary = summarise_run_results({"results": [
        {"unique_id": "model.comptoir.fct_order_lines", "status": "error", "message": message, "failures": None},
    ]})
    (failed,) = summary.failed
    assert failed.describe() == (
        "fct_order_lines: Runtime Error: Out of Range Error: Overflow in multiplication of DECIMAL(18) "
        "(2000000000 * 9999999999999)."
    )
    assert "Out of Range Error" in summary.failure_message()
