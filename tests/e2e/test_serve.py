"""`comptoir serve` brings up the Dagster UI with the code location, and Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _asset_keys(port: int) -> list[str]:
    query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        nodes = json.load(response)["data"]["assetNodes"]
    return sorted("/".join(node["assetKey"]["path"]) for node in nodes)


def test_serve_shows_the_raw_assets_and_stops_on_ctrl_c(tmp_path: Path, repo_root: Path) -> None:
    port = _free_port()
    env = {**os.environ, "COMPTOIR_HOME": str(tmp_path / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve", "--seeds", str(tmp_path), "--dagster-port", str(port)],
        cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        keys: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not keys:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                keys = _asset_keys(port)
            except (OSError, KeyError, TypeError):
                time.sleep(2)
        assert "raw/orders" in keys and "raw/customers" in keys, keys
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
