"""Where a build's time went, from Dagster's event log and dbt's run_results.json (`comptoir build --report-json`).

Steps are timed from their STEP_START to their end event; dbt's nodes are summed by kind (models, data tests, unit
tests) from execution_seconds. Start-up is the time from the process start to the first step's start.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance

from orchestration.dbt.results import summarise_run_results
from orchestration.dbt.runs import RUN_RESULTS_FILE

_ENDS = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_SKIPPED)


def process_started_at() -> float:
    """Wall-clock time this process started (Linux /proc), else now."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # starttime, in clock ticks after boot
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return time.time()


def step_timings(instance: DagsterInstance, run_id: str) -> dict[str, dict[str, float]]:
    """{step key: {start, end, seconds}} in wall-clock seconds, in the order the steps started."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in _ENDS:
            ends[event.step_key] = record.timestamp
    return {
        key: {"start": start, "end": ends.get(key, start), "seconds": ends.get(key, start) - start}
        for key, start in sorted(starts.items(), key=lambda item: item[1])
    }


def dbt_breakdown(run_dir: Path) -> dict[str, Any]:
    """Seconds dbt spent per kind of node (summed over threads) and its own elapsed time."""
    path = run_dir / RUN_RESULTS_FILE
    if not path.exists():
        return {}
    summary = summarise_run_results(json.loads(path.read_text(encoding="utf-8")))
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for result in summary.results:
        seconds[result.resource_type] += result.execution_seconds
        counts[result.resource_type] += 1
    return {"elapsed": summary.elapsed_seconds, "seconds_by_kind": dict(seconds), "nodes_by_kind": dict(counts),
            "run_dir": str(run_dir)}


def build_report(instance: DagsterInstance, run_id: str, run_dir: Path, started_at: float,
                 success: bool) -> dict[str, Any]:
    steps = step_timings(instance, run_id)
    first_start = min((s["start"] for s in steps.values()), default=time.time())
    return {
        "run_id": run_id,
        "success": success,
        "process_started_at": started_at,
        "startup_seconds": first_start - started_at,
        "wall_seconds": time.time() - started_at,
        "steps": steps,
        "dbt": dbt_breakdown(run_dir),
    }
