"""`comptoir serve` brings up Superset (initialised, dashboards synced), the Dagster UI with the code location and the
API, prints their URLs and credentials, and Ctrl-C stops them all cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration.superset.client import SupersetClient
from tests.e2e.conftest import InitialisedSuperset

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _asset_keys(port: int) -> list[str]:
    query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        nodes = json.load(response)["data"]["assetNodes"]
    return sorted("/".join(node["assetKey"]["path"]) for node in nodes)


def test_serve_runs_superset_and_dagster_and_ctrl_c_stops_both(
    tmp_path: Path, repo_root: Path, superset_home: InitialisedSuperset
) -> None:
    """On a copy of a built, published home whose Superset was initialised (the session's: `comptoir superset
    init` is tested there); serve finds it initialised, syncs the dashboards and starts everything."""
    home = superset_home.copy(tmp_path / "home")
    dagster_port, superset_port, api_port = _free_port(), _free_port(), _free_port()
    env = superset_home.environment(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "serve", "--seeds", str(tmp_path),
         "--dagster-port", str(dagster_port), "--superset-port", str(superset_port), "--api-port", str(api_port)],
        cwd=repo_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        started = time.monotonic()
        while not any("Ctrl-C stops the servers" in line for line in lines):
            assert process.poll() is None, "".join(lines)[-4000:]
            assert time.monotonic() - started < 900, "".join(lines)[-4000:]
            time.sleep(1)
        output = "".join(lines)
        print(f"\nserving after {time.monotonic() - started:.1f}s")
        assert f"Superset:   http://127.0.0.1:{superset_port}" in output
        assert "Initialising Superset" not in output  # a copied home keeps its initialisation
        assert f"Dagster UI: http://127.0.0.1:{dagster_port}" in output
        assert "Synced 1 dashboard" in output or "Synced" in output
        assert f"API:        http://127.0.0.1:{api_port}/v1" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/health", timeout=10) as response:
            assert json.load(response)["as_of_date"]

        # the printed credentials work: the business viewer sees the dashboards
        viewer = re.search(r"business viewer: (\S+) / (\S+)", output)
        admin = re.search(r"admin:\s+(\S+) / (\S+)", output)
        assert viewer and admin, output
        client = SupersetClient(f"http://127.0.0.1:{superset_port}", viewer.group(1), viewer.group(2))
        assert "overview" in {row["slug"] for row in client.list_all("dashboard", columns=["slug"])}
        SupersetClient(f"http://127.0.0.1:{superset_port}", admin.group(1), admin.group(2))

        keys = _asset_keys(dagster_port)
        assert "raw/orders" in keys and "raw/customers" in keys, keys

        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=120) == 0
        assert not _port_open(superset_port) and not _port_open(dagster_port) and not _port_open(api_port)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
