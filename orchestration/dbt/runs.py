"""Where each dbt run keeps its artifacts, and what an earlier run leaves the next one (no Dagster).

Every run (a Dagster build, `comptoir build --changed`) has its own target folder under `<home>/dbt/runs/`:
manifest, run_results.json, compiled SQL, dbt.log, and the project marks of project_state.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from orchestration.dbt.project import DBT_PROJECT_DIR, PARTIAL_PARSE_FILE, TARGET_DIR_NAME
from orchestration.settings import PRIVATE_FILE_MODE

# The dbt profile (dbt_project/profiles.yml) reads the warehouse file from this variable.
DUCKDB_PATH_ENV = "COMPTOIR_DUCKDB_PATH"
RUN_RESULTS_FILE = "run_results.json"
KEEP_RUNS = 20


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
