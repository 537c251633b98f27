"""A dbt that dies with the build that started it.

dagster-dbt starts `dbt` with a plain subprocess.Popen. When `comptoir build` is killed (kill -9, an OOM kill, a
closed terminal), that dbt used to run on for half a minute holding DuckDB's write lock, and the next build failed
on the lock. The launcher is a tiny executable that dagster-dbt starts instead of dbt: on Linux it asks the kernel
to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG, which survives exec), checks the parent is still the one
that started it, then replaces itself with the real dbt (same process: its output, exit code and signals are dbt's).
Elsewhere the launcher is dbt itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestration.dbt.project import dbt_executable

LAUNCHER_NAME = "dbt"
PARENT_PID_ENV = "COMPTOIR_DBT_PARENT_PID"

_LAUNCHER = '''#!{python}
# Written by Comptoir (orchestration/dbt/launcher.py): runs {dbt} and dies with its parent.
import ctypes, os, signal, sys

PR_SET_PDEATHSIG = 1
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
expected = os.environ.get("{env}")
if expected and os.getppid() != int(expected):
    sys.exit("dbt not started: the build that started it has already ended")
os.execv({dbt!r}, [{dbt!r}, *sys.argv[1:]])
'''


def launcher_source(python: str, dbt: str) -> str:
    return _LAUNCHER.format(python=python, dbt=dbt, env=PARENT_PID_ENV)


def dbt_launcher(folder: Path) -> Path:
    """The executable dagster-dbt should start: the launcher in `folder` (written when missing or stale) on Linux,
    the real dbt elsewhere."""
    real = dbt_executable()
    if not sys.platform.startswith("linux"):
        return real
    path = folder / LAUNCHER_NAME
    source = launcher_source(sys.executable, str(real))
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != source:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(source, encoding="utf-8")
        temporary.chmod(0o700)
        os.replace(temporary, path)  # atomic: a concurrent build sees the old or the new launcher, never half
    return path


def mark_as_parent() -> None:
    """Record this process as the one whose dbt children must die with it (read by the launcher)."""
    os.environ[PARENT_PID_ENV] = str(os.getpid())
