"""The pipeline's record (schema pipeline) of a real `comptoir build`, against dbt's own run_results.json and the
raw, staging and published files it describes."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt.runs import run_artifacts_dir

pytestmark = pytest.mark.slow


def _latest_invocation(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    row = con.execute("select run_id, invocation_id from pipeline.dbt_node_results "
                      "order by generated_at desc limit 1").fetchone()
    assert row is not None, "pipeline.dbt_node_results is empty"
    return str(row[0]), str(row[1])


def test_dbt_node_results_are_the_run_results_of_the_build(built_sample: Path) -> None:
    with duckdb.connect(str(built_sample), read_only=True) as con:
        run_id, invocation_id = _latest_invocation(con)
        recorded = {
            unique_id: (status, seconds, failures)
            for unique_id, status, seconds, failures in con.execute(
                "select unique_id, status, execution_seconds, failures from pipeline.dbt_node_results "
                "where invocation_id = ?", [invocation_id]).fetchall()
        }
    run_results = json.loads((run_artifacts_dir(built_sample, run_id) / "run_results.json").read_text())
    assert run_results["metadata"]["invocation_id"] == invocation_id
    expected = {r["unique_id"]: (r["status"], r["execution_time"], r.get("failures")) for r in run_results["results"]}
    assert recorded.keys() == expected.keys()
    for unique_id, (status, seconds, failures) in expected.items():
        got_status, got_seconds, got_failures = recorded[unique_id]
        assert got_status == status and got_seconds == pytest.approx(seconds) and got_failures == failures, unique_id
    kinds = {unique_id.split(".")[0] for unique_id in recorded}
    assert {"model", "test", "unit_test"} <= kinds


def test_the_published_copy_records_its_own_build(built_sample: Path) -> None:
    published = built_sample.parent / "published" / "comptoir.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        build = con.execute("select * from pipeline.builds order by published_at desc limit 1").fetchdf()
        assert len(build) == 1
        row = build.iloc[0]
        raw_lines = sum(
            con.execute(f"select count(*) from raw.{table}").fetchone()[0]  # type: ignore[index]
            for (table,) in con.execute("select table_name from information_schema.tables where table_schema = 'raw' "
                                        "and table_name not in ('load_rejects', 'load_files', 'load_log')").fetchall()
        )
        rejected = con.execute("select count(*) from raw.load_rejects").fetchone()[0]  # type: ignore[index]
        quarantined = con.execute("select count(*) from staging.dq_quarantine").fetchone()[0]  # type: ignore[index]
        as_of = con.execute("select max(as_of_date) from marts.mart_kpis").fetchone()[0]  # type: ignore[index]
        run_id, invocation_id = _latest_invocation(con)
    run_results = json.loads((run_artifacts_dir(built_sample, run_id) / "run_results.json").read_text())
    statuses = [(r["unique_id"].split(".")[0], r["status"]) for r in run_results["results"]]

    assert row["run_id"] == run_id and row["dbt_invocation_id"] == invocation_id
    assert row["job_name"] == "warehouse"
    assert row["rows_loaded"] == raw_lines
    assert row["rows_rejected_at_load"] == rejected
    assert row["raw_rows"] == raw_lines + rejected
    assert row["rows_quarantined"] == quarantined
    assert row["as_of_date"].date() == as_of
    assert row["models_built"] == statuses.count(("model", "success"))
    assert row["tests_passed"] == statuses.count(("test", "pass")) + statuses.count(("unit_test", "pass"))
    assert row["tests_failed"] == 0
    assert 0 < row["dbt_seconds"] < row["duration_seconds"]
    assert row["started_at"] < row["published_at"]
