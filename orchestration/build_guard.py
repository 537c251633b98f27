"""What `comptoir build` does before and after its run so that a killed or interrupted build costs nothing.

- The warehouse lock: DuckDB lets one process write a file. A build that finds the file locked says who holds it
  (PID and command line) and waits a bounded time for it, then fails with that one line.
- Runs left open: a build killed with SIGKILL cannot record its end, so its run stays STARTED in Dagster's history.
  Each build tags its run with its PID; the next one marks such runs failed when that process is gone.
- Interruptions: SIGTERM is turned into the same KeyboardInterrupt as Ctrl-C, so both end the run the same way and
  the CLI can print one line saying nothing was published and what the published copy still holds.
- Leftovers: temporary files a killed build left beside the published copy or the saved models are removed.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

PID_TAG = "comptoir/pid"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class LockHolder:
    pid: int
    command: str  # the holder's command line (or the program DuckDB names, if /proc is not readable)

    def describe(self) -> str:
        return f"PID {self.pid} ({self.command})"


def _command_line(pid: int, fallback: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return fallback
    words = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    command = " ".join(" ".join(words).split())  # one line, whatever the arguments hold
    return (command[:157] + "...") if len(command) > 160 else command or fallback


def lock_holder(database: Path) -> LockHolder | None:
    """The process holding `database`'s write lock, or None when this process can open it for writing."""
    if not database.exists():
        return None
    try:
        duckdb.connect(str(database)).close()
    except duckdb.IOException as error:
        match = _LOCK_HOLDER.search(str(error))
        if match is None:
            raise
        pid = int(match["pid"])
        return LockHolder(pid, _command_line(pid, match["program"]))
    return None


def wait_for_unlocked(
    database: Path, timeout: float, on_wait: Callable[[LockHolder], None] | None = None
) -> LockHolder | None:
    """Wait up to `timeout` seconds for `database` to be free; the holder still there at the end, or None."""
    deadline = time.monotonic() + timeout
    holder = lock_holder(database)
    if holder is not None and on_wait is not None:
        on_wait(holder)
    while holder is not None and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        holder = lock_holder(database)
    return holder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to judge
    return True


def mark_abandoned_runs(instance: object, current_pid: int) -> list[str]:
    """Mark failed the runs a killed `comptoir build` left STARTED (or STARTING): their tagged PID is gone.

    A run whose process still lives (another build) is left alone. Returns the run ids marked.
    """
    from dagster import DagsterRunStatus, RunsFilter

    open_statuses = [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING]
    marked: list[str] = []
    for run in instance.get_runs(filters=RunsFilter(statuses=open_statuses)):  # type: ignore[attr-defined]
        pid_text = run.tags.get(PID_TAG)
        if not pid_text or not pid_text.isdigit():
            continue  # not a `comptoir build` run (the Dagster UI's runs have their own run monitoring)
        pid = int(pid_text)
        if pid == current_pid or _alive(pid):
            continue
        instance.report_run_failed(  # type: ignore[attr-defined]
            run, message=f"the build process (PID {pid}) ended without finishing this run: it was killed"
        )
        marked.append(run.run_id)
    if marked:
        log.info("marked %d interrupted run(s) failed: %s", len(marked), ", ".join(marked))
    return marked


def raise_keyboard_interrupt_on_sigterm() -> None:
    """SIGTERM ends the build like Ctrl-C does (Dagster turns either into an interrupted run)."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def remove_leftovers(*folders: Path) -> list[Path]:
    """Delete what an interrupted publish or model save left: `.<name>.*.tmp` files and `.tmp-*` folders."""
    import shutil

    removed: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            name = path.name
            if path.is_file() and name.startswith(".") and name.endswith(".tmp"):
                path.unlink(missing_ok=True)
                removed.append(path)
            elif path.is_dir() and name.startswith((".tmp-", ".broken-")):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def describe_published(published: Path) -> str:
    """What the dashboards read right now: the published copy's time and data as-of date, in words."""
    if not published.exists():
        return "there is no published warehouse yet"
    when = datetime.fromtimestamp(published.stat().st_mtime).isoformat(sep=" ", timespec="seconds")
    try:
        with duckdb.connect(str(published), read_only=True) as con:
            row = con.execute("select max(as_of_date) from marts.mart_kpis").fetchone()
        as_of = f", data as of {row[0]}" if row and row[0] is not None else ""
    except duckdb.Error:
        as_of = ""
    return f"the published warehouse still holds the build published at {when}{as_of}"
