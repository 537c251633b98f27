"""Run one command as the benchmark measures it: wall time and the peak resident memory of its whole process tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.1
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_rss_mb: float  # the largest sum of RSS over the process and its descendants, sampled
    returncode: int


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_kb(pid: int) -> int:
    """Resident memory of `pid` and every descendant, in KiB (Linux /proc)."""
    tree = _children()
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            pages = int(Path(f"/proc/{current}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pages = 0
        total += pages * _PAGE_KB
        stack.extend(tree.get(current, []))
    return total


def run_measured(command: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Measurement:
    """Run `command` to completion, its output appended to `log`; time it and sample its memory."""
    peak = 0
    with log.open("a", encoding="utf-8") as output:
        output.write(f"$ {' '.join(command)}\n")
        output.flush()
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(SAMPLE_SECONDS):
                peak = max(peak, tree_rss_kb(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # Not wait4's ru_maxrss: a forked child counts its parent's pages until it execs.
        _, status, _ = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(seconds=seconds, peak_rss_mb=peak / 1024,
                       returncode=process.returncode)


def emit_json(payload: dict, path: Path | None) -> None:
    """How a measured command hands back its result: a JSON file the benchmark reads, or standard output."""
    if path:
        path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    else:
        json.dump(payload, sys.stdout, indent=1)
