"""Shared by the end-to-end tests: one Superset home initialised per session (the slow part of bringing Superset
up: `superset db upgrade`, the admin account, `superset init`), copied by every test that serves Superset."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.settings import REPO_ROOT

# The environment a Superset test must not inherit: passwords, a secret and a metadata database of its own.
SUPERSET_ENV = ("COMPTOIR_SUPERSET_ADMIN_PASSWORD", "COMPTOIR_SUPERSET_VIEWER_PASSWORD", "SUPERSET_SECRET_KEY",
                "COMPTOIR_SUPERSET_DATABASE_URI")


class CommandLines:
    """Every process command line on the machine while the block runs, sampled every 50 ms from /proc: what `ps`
    shows every local user."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    with contextlib.suppress(OSError):
                        self.seen.add(Path(entry.path, "cmdline").read_bytes())

    def holding(self, text: str) -> list[str]:
        """The command lines (arguments joined by spaces) that contain ``text``."""
        lines = (line.replace(b"\0", b" ").decode(errors="replace") for line in self.seen)
        return [line for line in lines if text in line]

    def __enter__(self) -> CommandLines:
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass
class InitialisedSuperset:
    home: Path
    init_seconds: float
    command_lines: CommandLines  # every command line seen while Superset was initialised

    def copy(self, target: Path) -> Path:
        shutil.copytree(self.home, target, symlinks=True)
        return target

    @staticmethod
    def environment(home: Path) -> dict[str, str]:
        env = {**os.environ, "COMPTOIR_HOME": str(home)}
        for name in SUPERSET_ENV:
            env.pop(name, None)
        return env


@pytest.fixture(scope="session")
def superset_home(tmp_path_factory: pytest.TempPathFactory, built_sample: Path) -> InitialisedSuperset:
    """A copy of the built sample's home, published (`comptoir superset publish`) and with Superset initialised
    (`comptoir superset init`) while every command line on the machine was watched. Tests copy it."""
    home = tmp_path_factory.mktemp("superset-initialised") / "home"
    shutil.copytree(built_sample.parent, home, symlinks=True)
    env = InitialisedSuperset.environment(home)

    def comptoir(*args: str) -> None:
        completed = subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPO_ROOT, env=env,
                                   capture_output=True, text=True, timeout=900)
        assert completed.returncode == 0, f"comptoir {' '.join(args)}:\n{completed.stdout[-3000:]}" \
                                          f"{completed.stderr[-3000:]}"

    comptoir("superset", "publish")
    command_lines = CommandLines()
    with command_lines:  # the initialisation makes the admin account: no command line may hold its password
        started = time.monotonic()
        comptoir("superset", "init")
        seconds = time.monotonic() - started
    return InitialisedSuperset(home, seconds, command_lines)
