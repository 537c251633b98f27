"""Raw load + `dbt build` as the Dagster steps run them, without Dagster or ML: for the integration tests
that need a warehouse built from a landing folder of their own (real DuckDB, real dbt)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration import raw_load
from orchestration.dbt.args import build_args
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.run_log import record_dbt_results


def load_landing(con: duckdb.DuckDBPyConnection, folder: Path, loaded_at: datetime) -> None:
    """Append the rows of every landing file not loaded yet to raw.<source> (the multi-file raw load)."""
    raw_load.load_all(con, folder, loaded_at)


@dataclass(frozen=True)
class Build:
    database: Path
    target: Path
    seconds: float
    run_results: dict

    def run_args(self) -> dict:
        return self.run_results["args"]

    def failed(self) -> list[str]:
        return [r["unique_id"] for r in self.run_results["results"] if r["status"] in {"error", "fail"}]


def run_dbt(database: Path, target: Path, *, full_refresh: bool = False, scoped_tests: bool = False,
            parsed: Path | None = None, select: str | None = None, unit_tests: bool = False) -> Build:
    """`dbt build` as the Dagster step runs it; `parsed`: an earlier target folder whose parse dbt may reuse.

    dbt's unit tests are left out unless asked for: they check the SQL, not the data these builds are made for,
    and the session's sample build and `make test-fast` run them (a quarter of a small build's time)."""
    target.mkdir(parents=True, exist_ok=True)
    if parsed and (parsed / "partial_parse.msgpack").exists():
        shutil.copy2(parsed / "partial_parse.msgpack", target / "partial_parse.msgpack")
    env = {**os.environ, "COMPTOIR_DUCKDB_PATH": str(database), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    args = build_args(select=select, full_refresh=full_refresh,
                      vars={"scope_tests_to_refreshed_rows": True} if scoped_tests else None)
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    started = time.monotonic()
    completed = subprocess.run(
        [str(dbt_executable()), *args, "--profiles-dir", ".", "--target-path", str(target),
         "--log-path", str(target)],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    seconds = time.monotonic() - started
    results_path = target / "run_results.json"
    assert results_path.exists(), completed.stdout[-4000:] + completed.stderr[-2000:]
    build = Build(database, target, seconds, json.loads(results_path.read_text()))
    assert completed.returncode == 0 and not build.failed(), (build.failed(), completed.stdout[-6000:])
    # The pipeline record, as the Dagster dbt step writes it: the scoped tests read when they last passed.
    with duckdb.connect(str(database)) as con:
        manifest = json.loads((target / "manifest.json").read_text())
        record_dbt_results(con, target.name, build.run_results, manifest)
    return build


def load_and_build(folder: Path, database: Path, target: Path, **dbt_options: object) -> Build:
    with duckdb.connect(str(database)) as con:
        load_landing(con, folder, datetime.now(UTC).replace(tzinfo=None))
    return run_dbt(database, target, **dbt_options)  # type: ignore[arg-type]


def dagster_build(folder: Path, database: Path, tags: dict[str, str] | None = None) -> Build:
    """The raw assets and the dbt step materialized by Dagster (`materialize`, an ephemeral instance), as the
    `warehouse` job runs them without ML; the Build of its dbt run (the run's own target folder)."""
    from dagster import DagsterInstance, materialize

    from orchestration.dbt.runs import RUN_RESULTS_FILE, run_artifacts_dir
    from orchestration.defs.dbt.assets import dbt_models, load_rejects
    from orchestration.defs.dbt.resources import dbt_resource
    from orchestration.defs.raw.assets import raw_assets
    from orchestration.defs.resources import WarehouseResource

    database.parent.mkdir(parents=True, exist_ok=True)
    resources = {"warehouse": WarehouseResource(seeds_dir=str(folder), database=str(database)),
                 "dbt": dbt_resource()}
    started = time.monotonic()
    with DagsterInstance.ephemeral() as instance:
        result = materialize([*raw_assets, load_rejects, dbt_models], instance=instance, resources=resources,
                             tags=tags, raise_on_error=False)
    seconds = time.monotonic() - started
    assert result.success, [event.message for event in result.all_events if event.is_failure]
    target = run_artifacts_dir(database, result.run_id)
    build = Build(database, target, seconds, json.loads((target / RUN_RESULTS_FILE).read_text()))
    assert not build.failed(), build.failed()
    return build
