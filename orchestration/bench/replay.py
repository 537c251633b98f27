"""Replay a build's own compiled SQL straight in DuckDB: the floor any dbt build of this project can reach.

dbt leaves, in the run's target folder, manifest.json (each node's materialization and relation) and
run_results.json (each node's compiled SQL and when it ran). The replay copies the build's dbt sources (the raw layer
and the pipeline record) into a fresh DuckDB file named like the warehouse, so the compiled SQL's three-part names
resolve, then runs every model as `create or replace table|view ... as (...)` and every data test as
`select count(*) from (...)`, in the order dbt ran them, on one connection. Unit tests have no SQL to replay (dbt
builds them from fixtures); their time is dbt's own.

`python -m orchestration.bench.replay RUN_DIR WAREHOUSE WORK_DIR [--json OUT]`: the CLI the benchmark runs in its
own process, so that its memory is measured apart.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from orchestration.bench.measure import emit_json

log = logging.getLogger(__name__)

TABLE_MATERIALIZATIONS = frozenset({"table", "incremental"})


@dataclass(frozen=True)
class ReplayNode:
    unique_id: str
    kind: str  # "model" or "test"
    statement: str


@dataclass
class ReplayResult:
    models: int = 0
    tests: int = 0
    model_seconds: float = 0.0
    test_seconds: float = 0.0
    copy_seconds: float = 0.0
    per_node: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.model_seconds + self.test_seconds


def _started_at(result: dict) -> str:
    for timing in result.get("timing", []):
        if timing.get("name") == "execute" and timing.get("started_at"):
            return str(timing["started_at"])
    return ""


def replay_plan(manifest: dict, run_results: dict) -> list[ReplayNode]:
    """The models and data tests dbt ran, in the order it started them, as plain DuckDB statements."""
    nodes = manifest.get("nodes", {})
    ran = [r for r in run_results.get("results", []) if r.get("compiled_code")]
    plan = []
    for result in sorted(ran, key=_started_at):
        unique_id = result["unique_id"]
        node = nodes.get(unique_id, {})
        code = str(result["compiled_code"]).strip().rstrip(";")
        if unique_id.startswith("model."):
            materialized = node.get("config", {}).get("materialized")
            relation = result.get("relation_name") or node.get("relation_name")
            if materialized == "view":
                plan.append(ReplayNode(unique_id, "model", f"create or replace view {relation} as (\n{code}\n)"))
            elif materialized in TABLE_MATERIALIZATIONS:
                plan.append(ReplayNode(unique_id, "model", f"create or replace table {relation} as (\n{code}\n)"))
        elif unique_id.startswith("test."):
            plan.append(ReplayNode(unique_id, "test", f"select count(*) from (\n{code}\n) as dbt_internal_test"))
    return plan


def _model_schemas(manifest: dict) -> set[tuple[str, str]]:
    return {(n["database"], n["schema"]) for n in manifest.get("nodes", {}).values()
            if n.get("resource_type") == "model" and n.get("database")}


def copy_sources(con: duckdb.DuckDBPyConnection, manifest: dict, warehouse: Path) -> None:
    """The dbt sources that exist in `warehouse`, copied into the replay database (not timed)."""
    con.execute(f"attach '{warehouse}' as built (read_only)")
    existing = set(con.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'built'"
    ).fetchall())
    for source in manifest.get("sources", {}).values():
        schema, table = source["schema"], source.get("identifier") or source["name"]
        if (schema, table) in existing:
            con.execute(f'create schema if not exists "{schema}"')
            con.execute(f'create or replace table "{schema}"."{table}" as select * from built."{schema}"."{table}"')
    for _, schema in _model_schemas(manifest):
        con.execute(f'create schema if not exists "{schema}"')
    con.execute("detach built")


def replay(run_dir: Path, warehouse: Path, work_dir: Path) -> ReplayResult:
    """Replay the run in `run_dir` (a build's dbt target folder) on a copy of `warehouse`'s sources."""
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    run_results = json.loads((run_dir / "run_results.json").read_text(encoding="utf-8"))
    plan = replay_plan(manifest, run_results)
    databases = {database for database, _ in _model_schemas(manifest)}
    # Three-part names in the compiled SQL resolve when the file is named like the warehouse's catalog.
    database = databases.pop() if len(databases) == 1 else warehouse.stem
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    result = ReplayResult()
    with duckdb.connect(str(work_dir / f"{database}.duckdb")) as con:
        started = time.perf_counter()
        copy_sources(con, manifest, warehouse)
        result.copy_seconds = time.perf_counter() - started
        for node in plan:
            started = time.perf_counter()
            con.execute(node.statement).fetchall()
            elapsed = time.perf_counter() - started
            result.per_node[node.unique_id] = elapsed
            if node.kind == "model":
                result.models += 1
                result.model_seconds += elapsed
            else:
                result.tests += 1
                result.test_seconds += elapsed
    log.info("replayed %d models in %.2fs and %d tests in %.2fs", result.models, result.model_seconds,
             result.tests, result.test_seconds)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    result = replay(args.run_dir, args.warehouse, args.work_dir)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    payload = {**asdict(result), "seconds": result.seconds}
    emit_json(payload, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
