"""dbt started directly, outside Dagster: `comptoir dbt -- ...` and `comptoir build --changed` (the edit loop).

Same project, profile, warehouse file and launcher (dbt dies with the process that started it) as the Dagster
builds; the target folder is the caller's, so Dagster's manifest in dbt_project/target is never overwritten.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from orchestration.dbt.launcher import dbt_launcher, mark_as_parent
from orchestration.dbt.project import DBT_MANIFEST_FILE, DBT_PROJECT_DIR
from orchestration.dbt.project_state import BUILT_PROJECT_FILE
from orchestration.dbt.runs import DUCKDB_PATH_ENV


def dbt_environment(warehouse: Path, target: Path) -> dict[str, str]:
    """The environment dbt runs in: the project's profile on `warehouse`, artifacts and logs in `target`."""
    return {
        **os.environ,
        DUCKDB_PATH_ENV: str(warehouse.resolve()),
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def run_dbt(args: Sequence[str], warehouse: Path, target: Path, launcher_dir: Path) -> int:
    """Run `dbt <args>` in the project folder, its output on this terminal; dbt's exit status."""
    target.mkdir(parents=True, exist_ok=True)
    mark_as_parent()
    command = [str(dbt_launcher(launcher_dir)), *args]
    return subprocess.run(command, cwd=DBT_PROJECT_DIR, env=dbt_environment(warehouse, target), check=False).returncode


def last_built_state(runs: Path) -> Path | None:
    """The run folder of the last successful build (it holds BUILT_PROJECT_FILE and its manifest), or None."""
    marks = sorted(runs.glob(f"*/{BUILT_PROJECT_FILE}"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return next((mark.parent for mark in marks if (mark.parent / DBT_MANIFEST_FILE).exists()), None)
