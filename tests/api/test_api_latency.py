"""The API latency measure of `make bench` (orchestration/bench/latency.py) on the built sample: the real server in
a process of its own, 16 concurrent clients, every read endpoint answered without an error, and the batch scored.
The harness is checked here, not the figures (docs/benchmarks.md holds those)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.bench.latency import KPIS, SCORE_BATCH, measure_api

pytestmark = pytest.mark.slow


def test_every_read_endpoint_answers_sixteen_clients_without_error(api_home: Path, tmp_path: Path) -> None:
    measured = measure_api(api_home, tmp_path / "latency", requests=32, warmup=4, batch_rows=500, batch_repeats=1)
    endpoints = measured["endpoints"]
    assert len(endpoints) >= 18 and measured["clients"] == 16
    failing = [(e["endpoint"], e["first_error"]) for e in endpoints if e["errors"] or e["requests"] != 32]
    assert not failing
    assert all(0 < e["p50_ms"] <= e["p95_ms"] <= e["p99_ms"] <= e["max_ms"] for e in endpoints)
    varying = {e["endpoint"]: e["varies"] for e in endpoints}
    assert varying[KPIS] == "same" and list(varying.values()).count("range") >= 8
    assert measured["kpis_requests_per_second"] > 0
    batch = measured["score_batch"]
    assert (batch["endpoint"], batch["rows"], batch["errors"], len(batch["seconds"])) == (SCORE_BATCH, 500, 0, 1)
