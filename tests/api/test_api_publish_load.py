"""Rebuilds don't disturb the API: a real uvicorn server under a bounded load of concurrent requests while builds
publish the warehouse again and again; no request fails, and requests after a publish see the new one."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from api.keys import KeyStore
from orchestration.publish import publish_warehouse, read_fact
from orchestration.settings import PUBLISHED_DIR, REPO_ROOT, WAREHOUSE_FILE
from tests.api.conftest import make_api_home

pytestmark = pytest.mark.slow

CLIENTS = 8
PUBLISHES = 4
URLS = ["/v1/kpis", "/v1/sales/monthly", "/v1/orders/search?limit=50", "/v1/customers/top?n=20", "/v1/health"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_requests_never_fail_while_builds_publish(built_sample: Path, tmp_path: Path) -> None:
    home = make_api_home(built_sample, tmp_path / "home")
    key, _ = KeyStore(home).create("load", ["aggregates"])
    port = _free_port()
    env = {**os.environ, "COMPTOIR_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "api", "--port", str(port)], cwd=REPO_ROOT,
                              env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def load(worker: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            i = worker
            while not stop.is_set():
                url = URLS[i % len(URLS)]
                i += 1
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError as error:
                    with lock:
                        failures.append(f"{url}: {error!r}")
                    continue
                with lock:
                    statuses[status] += 1
                    if status != 200:
                        failures.append(f"{url}: {status}")

    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the API stopped"
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.3)
        workers = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(CLIENTS)]
        for worker in workers:
            worker.start()
        source = tmp_path / "build" / WAREHOUSE_FILE
        source.parent.mkdir()
        shutil.copyfile(built_sample, source)
        published = home / PUBLISHED_DIR / WAREHOUSE_FILE
        for n in range(PUBLISHES):
            time.sleep(1.0)
            publish_warehouse(source, published, run_id=f"load-{n}")
            fact = read_fact(published)
            assert fact is not None
            time.sleep(0.5)
            # a request after the publish sees it
            health = httpx.get(f"{base}/v1/health", timeout=30).json()
            assert (health["run_id"], health["published_at"]) == (fact.run_id, fact.published_at)
        time.sleep(1.0)
    finally:
        stop.set()
        time.sleep(0.5)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    served = sum(statuses.values())
    print(f"\n{served} requests while publishing {PUBLISHES} times: {dict(statuses)}")
    assert not failures, failures[:10]
    assert served >= 50
