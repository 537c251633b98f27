"""What several verbs share: the environment they run in, waiting for a server or for the warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from orchestration.build_guard import LockHolder, wait_for_unlocked
from orchestration.settings import HOME_ENV, SEEDS_ENV, Settings, private_dir, private_home

# Python logs of our own code go to the run's event log too (the Dagster UI and the terminal's progress lines).
DAGSTER_YAML = (
    "telemetry:\n  enabled: false\n"
    "python_logs:\n  managed_python_loggers: [ml, orchestration]\n  python_log_level: INFO\n"
)


def apply_seeds(seeds: str | None) -> Settings:
    """--seeds overrides COMPTOIR_SEEDS_DIR; the environment carries it to subprocesses too."""
    if seeds:
        os.environ[SEEDS_ENV] = str(Path(seeds).resolve())
    settings = Settings.from_env()
    os.environ[SEEDS_ENV] = str(settings.seeds_dir)
    os.environ[HOME_ENV] = str(settings.home)
    private_home(settings.home)
    return settings


def prepare_dagster_home(settings: Settings) -> Path:
    home = private_dir(settings.dagster_home)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def wait_for_the_warehouse(settings: Settings, wait: float) -> bool:
    """True when the build warehouse can be written; else one line saying who holds it (after `wait` seconds)."""

    def waiting(holder: LockHolder) -> None:
        print(f"The warehouse {settings.warehouse_path} is locked by {holder.describe()}: "
              f"waiting up to {wait:.0f}s for it to end", file=sys.stderr)

    holder = wait_for_unlocked(settings.warehouse_path, wait, waiting)
    if holder is not None:
        print(f"error: the warehouse {settings.warehouse_path} is still locked by {holder.describe()} after "
              f"{wait:.0f}s; nothing was built (--lock-wait sets how long to wait)", file=sys.stderr)
        return False
    return True


def http_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def wait_for_http(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 180.0) -> None:
    """Poll `url` until it answers 200, failing early if one of the servers exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a server exited with status {process.returncode} while starting")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
