"""Drive the benchmark: for each size, a full build, its SQL replayed, the pandas baseline and a one-day incremental
build, interleaved round after round so that the machine's noise hits every side alike.

The full build reads the landing folder but its last day (the history), and the new day is then added to that very
build, the way the daily schedule adds it: one full build per round instead of two (a history built apart from the
measured full build would double the bench's longest step for one day of data's difference)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestration.bench.datasets import Landing, prepare
from orchestration.bench.measure import Measurement, run_measured
from orchestration.settings import PUBLISHED_DIR, REPO_ROOT, WAREHOUSE_FILE

log = logging.getLogger(__name__)



@dataclass
class SizeResult:
    size: str
    order_lines: int
    last_day: str
    day_order_lines: int = 0
    full: list[dict[str, Any]] = field(default_factory=list)  # one per round: measurement + build report
    replay: list[dict[str, Any]] = field(default_factory=list)
    pandas: list[dict[str, Any]] = field(default_factory=list)
    incremental: list[dict[str, Any]] = field(default_factory=list)
    api_latency: dict[str, Any] = field(default_factory=dict)  # orchestration/bench/latency.py, on the full build
    chart_latency: dict[str, Any] = field(default_factory=dict)


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "COMPTOIR_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("COMPTOIR_SEEDS_DIR", None)
    return env


def _run_json(command: list[str], home: Path, report: Path, log_file: Path) -> dict[str, Any]:
    report.unlink(missing_ok=True)
    measured: Measurement = run_measured(command, env=_env(home), cwd=REPO_ROOT, log=log_file)
    payload: dict[str, Any] = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    if measured.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed with status {measured.returncode}; see {log_file}")
    return {"seconds": measured.seconds, "peak_rss_mb": measured.peak_rss_mb, **payload}


def _build(landing: Path, home: Path, work: Path, *, daily: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "orchestration.cli", "build", "--seeds", str(landing),
               "--report-json", str(work / "report.json")]
    if daily:
        command.append("--no-refit")
    return _run_json(command, home, work / "report.json", work / "bench.log")


def _link_folder(files: list[Path], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = folder / path.name
        if not target.exists():
            target.symlink_to(path.resolve())


class Bench:
    def __init__(self, cache: Path, seeds: Path) -> None:
        self.cache = cache
        self.seeds = seeds
        self.work = cache / "runs"

    def _home(self, landing: Landing) -> Path:
        return self.work / landing.size / "full"

    def _folder(self, landing: Landing) -> Path:
        return self.work / landing.size / "landing"

    def full(self, landing: Landing, result: SizeResult) -> None:
        """Days 1..N-1 from an empty home. The landing folder links the history's files and is where the new day
        is added later: the same paths for both builds, or dbt would re-parse the whole project for the new day (a
        changed warehouse path in its profile), which a real daily run never pays."""
        home, folder = self._home(landing), self._folder(landing)
        for path in (home, folder):
            shutil.rmtree(path, ignore_errors=True)
        home.mkdir(parents=True)
        _link_folder(sorted(p for p in landing.history.iterdir() if p.is_file()), folder)
        log.info("%s: full build (every day but %s)", landing.size, landing.last_day)
        result.full.append(_build(folder, home, home))

    def replay(self, landing: Landing, result: SizeResult) -> None:
        home = self._home(landing)
        run_dir = Path(result.full[-1]["dbt"]["run_dir"])
        log.info("%s: replaying the build's compiled SQL in DuckDB", landing.size)
        command = [sys.executable, "-m", "orchestration.bench.replay", str(run_dir), str(home / "comptoir.duckdb"),
                   str(home / "replay"), "--json", str(home / "replay.json")]
        result.replay.append(_run_json(command, home, home / "replay.json", home / "bench.log"))

    def pandas(self, landing: Landing, result: SizeResult) -> None:
        home = self._home(landing)
        log.info("%s: pandas baseline", landing.size)
        command = [sys.executable, "-m", "orchestration.bench.pandas_marts", str(landing.history),
                   "--json", str(home / "pandas.json")]
        result.pandas.append(_run_json(command, home, home / "pandas.json", home / "bench.log"))

    def incremental(self, landing: Landing, result: SizeResult) -> None:
        """Day N added to the round's full build and built the way the daily schedule builds it."""
        _link_folder(list(landing.day_files), self._folder(landing))
        log.info("%s: adding %s and building incrementally", landing.size, landing.last_day)
        home = self._home(landing)
        result.incremental.append(_build(self._folder(landing), home, home, daily=True))


def run_bench(sizes: list[str], repeat: int, cache: Path, seeds: Path) -> list[SizeResult]:
    from orchestration.dbt.project import ensure_manifest

    # A build re-parses the dbt project only when it changed; parse now so no measured build pays for an edit.
    ensure_manifest()
    bench = Bench(cache, seeds)
    landings = {size: prepare(size, cache, seeds) for size in sizes}
    results = {
        size: SizeResult(size=size, order_lines=landing.order_lines, last_day=landing.last_day,
                         day_order_lines=_day_lines(landing))
        for size, landing in landings.items()
    }
    started = time.perf_counter()
    for round_number in range(1, repeat + 1):
        for size, landing in landings.items():
            log.info("round %d/%d, %s (%.0fs so far)", round_number, repeat, size, time.perf_counter() - started)
            for step in (bench.full, bench.replay, bench.pandas, bench.incremental):
                step(landing, results[size])
    return list(results.values())


def run_latency(results: list[SizeResult], cache: Path, requests: int, chart_rounds: int) -> None:
    """After the build rounds, one size after another: the API served on each size's last full build and measured
    (orchestration/bench/latency.py), then one Superset, started once, synced onto each size's published file in
    turn and every chart measured. Nothing else runs meanwhile. A Superset that cannot start (no BI environment)
    is reported in the results, not raised: the rest of the bench stands."""
    from orchestration.bench.latency import SupersetSession, measure_api
    from orchestration.superset.client import SupersetError
    from orchestration.superset.server import SupersetSetupError

    work = cache / "latency"
    homes = {result.size: cache / "runs" / result.size / "full" for result in results}
    for result in results:
        log.info("%s: API latency", result.size)
        result.api_latency = measure_api(homes[result.size], work / result.size, requests=requests)
    if chart_rounds < 1:
        return
    try:
        with SupersetSession(work) as superset:
            for result in results:
                log.info("%s: dashboard chart latency", result.size)
                result.chart_latency = superset.measure(homes[result.size] / PUBLISHED_DIR / WAREHOUSE_FILE,
                                                        chart_rounds)
    except (SupersetSetupError, SupersetError) as error:
        log.warning("dashboard chart latency not measured: %s", error)
        for result in results:
            result.chart_latency = result.chart_latency or {"error": str(error)}


def run_scoring(cache: Path, size: str, rows: list[int], repeat: int) -> list[dict[str, Any]]:
    """`comptoir score` on generated files of each number of rows (orchestration/bench/scoring.py), with the model
    and the customers of the full build of ``size`` (run by run_bench before); one result per round and size."""
    from orchestration.bench.scoring import measure_scoring

    home = cache / "runs" / size / "full"
    results = []
    for round_number in range(1, repeat + 1):
        log.info("batch scoring, round %d/%d: %s rows", round_number, repeat, ", ".join(f"{n:,}" for n in rows))
        results += measure_scoring(home, cache / "scoring", rows, ["csv"])
    return results


def _day_lines(landing: Landing) -> int:
    from orchestration.bench.datasets import count_data_lines

    return sum(count_data_lines(p) for p in landing.day_files if p.name.startswith("orders_"))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def to_json(results: list[SizeResult], scoring: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"results": [asdict(r) for r in results], "scoring": scoring or []}
