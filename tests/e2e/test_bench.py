"""`comptoir bench` on the committed sample, as `make bench` runs it: every measure is taken and reported,
the API's and the dashboards' latency included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.settings import REPO_ROOT

pytestmark = pytest.mark.slow


def test_bench_on_the_sample_writes_the_report_and_its_json(tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    env = {**os.environ, "COMPTOIR_HOME": str(tmp_path / "home")}
    env.pop("COMPTOIR_SEEDS_DIR", None)
    completed = subprocess.run(
        # A small scoring file: the default million-row one is for `make bench`, not for the test suite.
        # Few requests per endpoint and one round over the charts: the harness is checked, not the figures.
        [sys.executable, "-m", "orchestration.cli", "bench", "--lines", "sample", "--out", str(out), "--score-rows",
         "2000", "--latency-requests", "32", "--chart-rounds", "1"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    payload = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    (result,) = payload["results"]
    assert result["size"] == "sample"
    assert result["order_lines"] == sum(1 for _ in (REPO_ROOT / "seeds" / "orders.csv").open()) - 1
    (full,) = result["full"]
    assert full["success"] and {"raw__orders", "dbt_models", "published__warehouse"} <= set(full["steps"])
    assert full["dbt"]["nodes_by_kind"]["model"] > 30 and full["peak_rss_mb"] > 100
    (replayed,) = result["replay"]
    assert replayed["models"] == full["dbt"]["nodes_by_kind"]["model"]
    assert replayed["tests"] == full["dbt"]["nodes_by_kind"]["test"]
    (pandas,) = result["pandas"]
    assert pandas["rows"]["top_products"] == 10 and pandas["clean_lines"] > 0.95 * result["order_lines"]
    (incremental,) = result["incremental"]
    assert incremental["success"] and result["day_order_lines"] > 0
    assert "ml__model_runs" not in incremental["steps"]  # the daily path scores with the saved model
    report = out.read_text(encoding="utf-8")
    for row in ("**build, wall**", "**replayed SQL**", "dbt ÷ replayed SQL", "**pandas** headline marts",
                "**new day**, wall", "## Batch scoring (`comptoir score`)", "## Goals (issue 11)", "Machine: "):
        assert row in report, row
    api = result["api_latency"]
    assert {e["endpoint"] for e in api["endpoints"]} >= {"GET /v1/health", "GET /v1/kpis", "GET /v1/quality"}
    assert all(e["requests"] == 32 and e["errors"] == 0 and e["p95_ms"] > 0 for e in api["endpoints"]), [
        (e["endpoint"], e["first_error"]) for e in api["endpoints"] if e["errors"]]
    assert api["kpis_requests_per_second"] > 0
    assert api["score_batch"]["errors"] == 0 and len(api["score_batch"]["seconds"]) == 3
    charts = result["chart_latency"]
    assert charts["dashboards"] >= 11 and charts["requests"] == charts["charts"] > 50
    assert charts["errors"] == 0, charts["failed"]
    for heading in ("## API latency (16 concurrent clients)", "## Dashboard chart latency (chart data API, uncached)"):
        assert heading in report, heading
    (scored,) = payload["scoring"]
    assert (scored["rows"], scored["format"]) == (2000, "csv") and scored["peak_rss_mb"] > 100
