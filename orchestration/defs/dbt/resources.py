"""The dbt CLI resource, and where each run keeps its dbt artifacts."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from orchestration.dbt.launcher import dbt_launcher
from orchestration.dbt.project import DBT_PROJECT_DIR, PARTIAL_PARSE_FILE, TARGET_DIR_NAME, dbt_executable
from orchestration.settings import PRIVATE_FILE_MODE

# The dbt profile (dbt_project/profiles.yml) reads the warehouse file from this variable.
DUCKDB_PATH_ENV = "COMPTOIR_DUCKDB_PATH"
RUN_RESULTS_FILE = "run_results.json"
KEEP_RUNS = 20

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=TARGET_DIR_NAME)


class ComptoirDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two fixed costs of each run (together ~3 s of a daily build).

    - `dbt --version` in a subprocess (~2 s): the dbt it runs is the one installed beside this interpreter
      (dbt_executable), so its version is the installed dbt-core package's.
    - a dbt adapter opened in this process (~1.5 s): dagster-dbt only uses it for the optional row-count
      and column metadata (`fetch_row_counts`, `fetch_column_metadata`), which this project does not ask for.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource(launcher_dir: Path | None = None) -> DbtCliResource:
    """dagster-dbt's resource; with `launcher_dir`, dbt is started through the launcher there, so that it dies
    with the process that started it (launcher.py)."""
    executable = dbt_launcher(launcher_dir) if launcher_dir is not None else dbt_executable()
    return ComptoirDbtCliResource(project_dir=dbt_project, dbt_executable=str(executable))


def runs_dir(database: str | Path) -> Path:
    """dbt artifacts of every run, beside the warehouse file (never in the repository)."""
    return Path(database).resolve().parent / "dbt" / "runs"


def run_artifacts_dir(database: str | Path, run_id: str) -> Path:
    """The dbt target folder of one Dagster run: manifest, run_results.json, compiled SQL, dbt.log."""
    return runs_dir(database) / run_id


def seed_partial_parse(target: Path, database: str | Path, project_dir: Path = DBT_PROJECT_DIR) -> Path | None:
    """Copy the newest earlier partial_parse.msgpack (another run's, else the project's) into `target`.

    Every run has its own target folder, so dbt would parse the whole project each time (~2-3 s of
    an incremental build); with an earlier parse beside it, it re-parses only the files that changed.
    dbt checks the file against the project, profile and vars, and parses in full when they differ.
    Returns the file copied, or None.
    """
    folder = runs_dir(database)
    candidates = [p for p in folder.glob(f"*/{PARTIAL_PARSE_FILE}") if p.parent != target] if folder.is_dir() else []
    candidates.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    candidates.append(project_dir / TARGET_DIR_NAME / PARTIAL_PARSE_FILE)
    for candidate in candidates:
        try:
            shutil.copy2(candidate, target / PARTIAL_PARSE_FILE)
        except FileNotFoundError:  # pruned or never parsed
            continue
        # copy2 copies the mode too, and the project's own file is the checkout's (0644): the run folder's files
        # are owner only, like the rest of COMPTOIR_HOME.
        os.chmod(target / PARTIAL_PARSE_FILE, PRIVATE_FILE_MODE)
        return candidate
    return None


def prune_runs(database: str | Path, keep: int = KEEP_RUNS) -> None:
    """Keep the artifacts of the `keep` most recent runs."""
    folder = runs_dir(database)
    if not folder.is_dir():
        return
    runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for stale in runs[keep:]:
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the dbt subprocess started inside the block, then restore them.

    DbtCliResource hands dbt a copy of os.environ when it starts the process; steps run one after
    another in one process (in_process_executor), so nothing else sees the change.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
