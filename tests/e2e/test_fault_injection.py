"""A build killed with SIGKILL in each phase costs nothing (issue 13; DECISIONS.md: Crash-safe builds).

One COMPTOIR_HOME (a copy of the session's built sample: a first build published); then `comptoir build` is
killed with SIGKILL during the raw load,
during dbt, during the ML assets and during the publish (held at the fault point between writing the new copy and
renaming it, orchestration/faults.py). After each kill the published copy is byte-identical and opens, and no dbt
is left running; each next build gets past the point where the previous one died without any manual cleanup, and
a last build succeeds, with the killed runs marked failed and no temporary file left behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.faults import FAULT_PAUSE_ENV, REACHED
from orchestration.publish import fact_path
from orchestration.settings import REPO_ROOT

pytestmark = pytest.mark.slow

COMPTOIR = [sys.executable, "-m", "orchestration.cli", "build", "--seeds"]
TIMEOUT = 900


@dataclass
class Home:
    path: Path
    seeds: Path

    @property
    def published(self) -> Path:
        return self.path / "published" / "comptoir.duckdb"

    def env(self, **extra: str) -> dict[str, str]:
        environment = {**os.environ, "COMPTOIR_HOME": str(self.path), **extra}
        environment.pop("COMPTOIR_SEEDS_DIR", None)
        return environment


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(home: Home) -> subprocess.CompletedProcess[str]:
    """The daily schedule's build (scores with the saved models): every build, re-fit or not, first tidies what a
    killed one left (model folders, publish and lake temporaries) and marks its runs failed."""
    return subprocess.run([*COMPTOIR, str(home.seeds), "--no-refit"], cwd=REPO_ROOT, env=home.env(),
                          capture_output=True, text=True, timeout=TIMEOUT)


def _watch(stream: object, lines: list[str], seen: threading.Event, marker: str) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.append(line)
        if line.startswith(marker):
            seen.set()


def kill_build_at(
    home: Home, marker: str, *, after: float = 0.0, pause_at: str | None = None, dbt_running: bool = False,
    options: tuple[str, ...] = (),
) -> list[str]:
    """Start `comptoir build`, SIGKILL it `after` seconds past the first output line starting with `marker`."""
    environment = home.env(**({FAULT_PAUSE_ENV: pause_at} if pause_at else {}))
    process = subprocess.Popen([*COMPTOIR, str(home.seeds), *options], cwd=REPO_ROOT, env=environment, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    seen = threading.Event()
    readers = [threading.Thread(target=_watch, args=(stream, lines, seen, marker), daemon=True)
               for stream in (process.stdout, process.stderr)]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        # A build that fails before the marker ends: say so at once instead of waiting out the timeout.
        while not seen.wait(1.0):
            assert process.poll() is None and time.monotonic() < deadline, \
                f"the build never printed {marker!r}:\n{''.join(lines)[-3000:]}"
        time.sleep(after)
        assert process.poll() is None, f"the build ended before it could be killed:\n{''.join(lines)[-3000:]}"
        if dbt_running:  # the control: dbt is there to be left behind, until the kill
            assert dbt_processes_of(home), "no dbt process found while dbt runs: the check below would prove nothing"
        process.send_signal(signal.SIGKILL)
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
    return lines


def dbt_processes_of(home: Home) -> list[str]:
    """Live dbt processes started for this home (their environment names it; dbt's command line does not)."""
    marker = f"COMPTOIR_HOME={home.path}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environment = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile, or not ours
        if "bin/dbt" in command and marker in environment:
            found.append(f"{proc.name}: {command}")
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, built_sample: Path) -> Iterator[Home]:
    """A home whose first build published: a copy of the session's built sample (the same landing folder), so the
    builds below are its next ones."""
    path = tmp_path_factory.mktemp("faults") / "home"
    shutil.copytree(built_sample.parent, path, symlinks=True)
    built = Home(path, sample_dir)
    assert built.published.exists()
    yield built


# The kill during publish comes after every other step: a build that scores with the saved models (what the daily
# schedule runs) gets there half a minute sooner than one that re-fits them, and publishes the same way.
KILLS = [
    pytest.param("> raw__", 0.5, None, (), id="raw-load"),
    pytest.param("> dbt_models", 3.0, None, (), id="dbt"),
    pytest.param("> ml__", 2.0, None, (), id="ml"),
    pytest.param(REACHED + "publish", 0.0, "publish", ("--no-refit",), id="publish"),
]


@pytest.mark.parametrize(("marker", "after", "pause_at", "options"), KILLS)
def test_a_killed_build_leaves_the_published_copy_as_it_was(
    home: Home, marker: str, after: float, pause_at: str | None, options: tuple[str, ...]
) -> None:
    before = digest(home.published)
    kill_build_at(home, marker, after=after, pause_at=pause_at, dbt_running=marker == "> dbt_models",
                  options=options)
    assert digest(home.published) == before
    with duckdb.connect(str(home.published), read_only=True) as con:
        assert con.execute("select count(*) from marts.mart_kpis").fetchone()[0] == 1
    deadline = time.monotonic() + 10
    while dbt_processes_of(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dbt_processes_of(home) == [], "a dbt started by the killed build is still running"


def test_the_next_build_succeeds_without_cleanup_and_leaves_nothing_behind(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = build(home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    kept = {home.published.name, fact_path(home.published).name}  # the published copy and its fact
    leftovers = [p for p in home.published.parent.iterdir() if p.name not in kept]
    leftovers += [p for p in (home.path / "models").rglob("*") if p.name.startswith((".tmp-", ".broken-"))]
    assert leftovers == [], leftovers
    from dagster import DagsterInstance, DagsterRunStatus

    monkeypatch.setenv("DAGSTER_HOME", str(home.path / "dagster"))
    with DagsterInstance.get() as instance:
        statuses = [run.status for run in instance.get_runs()]
    assert DagsterRunStatus.STARTED not in statuses
    assert statuses.count(DagsterRunStatus.FAILURE) >= 4  # each killed build, marked at the next start
    assert statuses[0] == DagsterRunStatus.SUCCESS
