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
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from ml.warehouse import table_exists
from orchestration.dbt.results import NodeResult, summarise_run_results

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


def dbt_node_rows(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> pd.DataFrame:
    """One row per result of run_results.json, as the dbt step's summary parses them, with the node's schema from
    the manifest (a test's: the schema dbt stores its failures in)."""
    nodes = {**(manifest.get("nodes") or {}), **(manifest.get("unit_tests") or {})}
    frame = pd.DataFrame([asdict(result) for result in summarise_run_results(run_results).results],
                         columns=[f.name for f in fields(NodeResult)])
    frame["schema_name"] = [nodes.get(unique_id, {}).get("schema") for unique_id in frame["unique_id"]]
    return frame


def record_dbt_results(
    con: duckdb.DuckDBPyConnection, run_id: str, run_results: Mapping[str, Any], manifest: Mapping[str, Any]
) -> int:
    """Append one dbt build's node results (replacing a previous record of the same invocation); rows written."""
    frame = dbt_node_rows(run_results, manifest)
    metadata = run_results.get("metadata") or {}
    invocation = metadata.get("invocation_id")
    with _appending(con, _DBT_NODE_RESULTS_DDL):
        con.execute(f"delete from {SCHEMA}.dbt_node_results where invocation_id = ?", [invocation])
        con.register("dbt_node_rows", frame)
        # dbt's timestamps are ISO with a zone; the warehouse's are naive UTC
        con.execute(f"""
            insert into {SCHEMA}.dbt_node_results by name
            select
                ? as run_id, ? as invocation_id, timezone('UTC', cast(? as timestamptz)) as generated_at,
                unique_id, resource_type, name, schema_name, status, execution_seconds, failures, message,
                timezone('UTC', cast(started_at as timestamptz)) as started_at,
                timezone('UTC', cast(completed_at as timestamptz)) as completed_at
            from dbt_node_rows""", [run_id, invocation, metadata.get("generated_at")])
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
    if table_exists(con, "mart_kpis", "marts"):
        row["as_of_date"] = _one(con, "select max(as_of_date) from marts.mart_kpis")
    if table_exists(con, "mart_data_quality", "marts"):
        counts = con.execute("""
            select
                sum(case when check_name = 'loaded' then raw_rows end),
                sum(case when check_name = 'loaded' then row_count end),
                sum(case when check_name = 'rejected_at_load' then row_count end),
                sum(case when check_name = 'quarantined' then row_count end)
            from marts.mart_data_quality""").fetchone() or (None,) * 4
        row.update(zip(("raw_rows", "rows_loaded", "rows_rejected_at_load", "rows_quarantined"), counts, strict=True))
    if table_exists(con, "dbt_node_results", SCHEMA):
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
    if table_exists(con, "builds", SCHEMA):
        con.execute(f"delete from {SCHEMA}.builds where run_id = ?", [run_id])


QUARANTINE_MODEL = "dq_quarantine"  # staging model holding every row a data-quality rule set aside


def quarantine_counts(database: Path) -> list[tuple[str, str, int]] | None:
    """Rows set aside per source and data-quality rule (staging.dq_quarantine) in `database`, None when absent."""
    if not database.exists():
        return None
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.execute(
                f"select source, rule, count(*) from staging.{QUARANTINE_MODEL} group by all order by all"
            ).fetchall()
    except duckdb.Error:
        return None
    return [(str(source), str(rule), int(count)) for source, rule, count in rows]
