"""The pipeline's own record in the warehouse (schema `pipeline`), for the "Data quality and pipeline" dashboard.

- `pipeline.dbt_node_results`: every node of each `dbt build` (model, test, unit test) with its status, time and
  failing rows, straight from dbt's run_results.json; the last RETAINED_DBT_BUILDS builds are kept.
- `pipeline.builds`: one row per published build (written by the publish step into the build file just before it
  is copied, so the published copy holds its own row): when, how long, what was loaded, rejected, quarantined and
  tested.

Plain DuckDB, no Dagster: the assets call these with their connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

SCHEMA = "pipeline"
RETAINED_DBT_BUILDS = 30

_DBT_NODE_RESULTS_DDL = f"""
create table if not exists {SCHEMA}.dbt_node_results (
    run_id varchar,
    invocation_id varchar,
    generated_at timestamp,
    unique_id varchar,
    resource_type varchar,
    name varchar,
    schema_name varchar,
    status varchar,
    execution_seconds double,
    failures bigint,
    message varchar,
    started_at timestamp,
    completed_at timestamp
)"""

_BUILDS_DDL = f"""
create table if not exists {SCHEMA}.builds (
    run_id varchar,
    job_name varchar,
    started_at timestamp,
    published_at timestamp,
    duration_seconds double,
    as_of_date date,
    raw_rows bigint,
    rows_loaded bigint,
    rows_rejected_at_load bigint,
    rows_quarantined bigint,
    models_built bigint,
    tests_passed bigint,
    tests_warned bigint,
    tests_failed bigint,
    dbt_seconds double,
    dbt_invocation_id varchar
)"""


@contextmanager
def _appending(con: duckdb.DuckDBPyConnection, ddl: str) -> Iterator[None]:
    """One transaction on a table of the schema, created first if needed: all of a record or none of it."""
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        con.execute(ddl)
        yield
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _timestamp(value: Any) -> datetime | None:
    """dbt's ISO timestamps (UTC, with a trailing Z) as naive UTC datetimes, like every timestamp of the warehouse."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def dbt_node_rows(run_id: str, run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> pd.DataFrame:
    """One row per result of run_results.json; the schema comes from the manifest (a test's: its model's)."""
    metadata = run_results.get("metadata") or {}
    nodes = {**(manifest.get("nodes") or {}), **(manifest.get("unit_tests") or {})}
    rows = []
    for result in run_results.get("results", []):
        unique_id = str(result.get("unique_id", ""))
        node = nodes.get(unique_id) or {}
        parts = unique_id.split(".")
        timing = {step.get("name"): step for step in result.get("timing") or []}
        execute = timing.get("execute") or {}
        compile_ = timing.get("compile") or {}
        failures = result.get("failures")
        rows.append({
            "run_id": run_id,
            "invocation_id": metadata.get("invocation_id"),
            "generated_at": _timestamp(metadata.get("generated_at")),
            "unique_id": unique_id,
            "resource_type": parts[0],
            "name": node.get("name") or (parts[2] if len(parts) > 2 else unique_id),
            "schema_name": node.get("schema"),
            "status": str(result.get("status", "")).lower(),
            "execution_seconds": float(result.get("execution_time") or 0.0),
            "failures": int(failures) if isinstance(failures, int | float) else None,
            "message": result.get("message"),
            "started_at": _timestamp(compile_.get("started_at") or execute.get("started_at")),
            "completed_at": _timestamp(execute.get("completed_at") or compile_.get("completed_at")),
        })
    return pd.DataFrame(rows, columns=[
        "run_id", "invocation_id", "generated_at", "unique_id", "resource_type", "name", "schema_name", "status",
        "execution_seconds", "failures", "message", "started_at", "completed_at"])


def record_dbt_results(
    con: duckdb.DuckDBPyConnection, run_id: str, run_results: Mapping[str, Any], manifest: Mapping[str, Any]
) -> int:
    """Append one dbt build's node results (replacing a previous record of the same invocation); rows written."""
    frame = dbt_node_rows(run_id, run_results, manifest)
    invocation = (run_results.get("metadata") or {}).get("invocation_id")
    with _appending(con, _DBT_NODE_RESULTS_DDL):
        con.execute(f"delete from {SCHEMA}.dbt_node_results where invocation_id = ?", [invocation])
        con.register("dbt_node_rows", frame)
        con.execute(f"insert into {SCHEMA}.dbt_node_results by name select * from dbt_node_rows")
        con.unregister("dbt_node_rows")
        con.execute(f"""
            delete from {SCHEMA}.dbt_node_results where invocation_id not in (
                select invocation_id from {SCHEMA}.dbt_node_results
                group by invocation_id order by max(generated_at) desc limit {RETAINED_DBT_BUILDS})""")
    return len(frame)


@dataclass(frozen=True)
class BuildRecord:
    run_id: str
    job_name: str
    started_at: datetime | None  # naive UTC


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    return row[0] if row else None


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(_one(con, f"select count(*) from information_schema.tables "
                          f"where table_schema = '{schema}' and table_name = '{table}'"))


def record_build(con: duckdb.DuckDBPyConnection, build: BuildRecord, published_at: datetime | None = None) -> dict:
    """Append the row of a build about to be published: counts from marts.mart_data_quality and the latest dbt build.

    Returns the row as written.
    """
    published_at = published_at or datetime.now(UTC).replace(tzinfo=None)
    row: dict[str, Any] = {
        "run_id": build.run_id, "job_name": build.job_name, "started_at": build.started_at,
        "published_at": published_at,
        "duration_seconds": (published_at - build.started_at).total_seconds() if build.started_at else None,
    }
    if _exists(con, "marts", "mart_kpis"):
        row["as_of_date"] = _one(con, "select max(as_of_date) from marts.mart_kpis")
    if _exists(con, "marts", "mart_data_quality"):
        counts = con.execute("""
            select
                sum(case when check_name = 'loaded' then raw_rows end),
                sum(case when check_name = 'loaded' then row_count end),
                sum(case when check_name = 'rejected_at_load' then row_count end),
                sum(case when check_name = 'quarantined' then row_count end)
            from marts.mart_data_quality""").fetchone() or (None,) * 4
        row.update(zip(("raw_rows", "rows_loaded", "rows_rejected_at_load", "rows_quarantined"), counts, strict=True))
    if _exists(con, SCHEMA, "dbt_node_results"):
        dbt = con.execute(f"""
            with latest as (
                select * from {SCHEMA}.dbt_node_results
                where generated_at = (select max(generated_at) from {SCHEMA}.dbt_node_results)
            )
            select
                count(*) filter (where resource_type = 'model' and status = 'success'),
                count(*) filter (where resource_type in ('test', 'unit_test') and status = 'pass'),
                count(*) filter (where resource_type in ('test', 'unit_test') and status = 'warn'),
                count(*) filter (where resource_type in ('test', 'unit_test') and status in ('fail', 'error')),
                date_diff('millisecond', min(started_at), max(completed_at)) / 1000.0,
                any_value(invocation_id)
            from latest""").fetchone() or (None,) * 6
        row.update(zip(("models_built", "tests_passed", "tests_warned", "tests_failed", "dbt_seconds",
                        "dbt_invocation_id"), dbt, strict=True))
    with _appending(con, _BUILDS_DDL):
        con.register("build_row", pd.DataFrame([row]))
        con.execute(f"insert into {SCHEMA}.builds by name select * from build_row")
        con.unregister("build_row")
    return row


def forget_build(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Remove a build's row again (its publish failed after the row was written)."""
    if _exists(con, SCHEMA, "builds"):
        con.execute(f"delete from {SCHEMA}.builds where run_id = ?", [run_id])
