"""`comptoir bench` on the committed sample, as `make bench` runs it: every measure is taken and reported.
The latency measures run on servers the API and Superset tests already have (tests/api/test_api_latency.py,
tests/e2e/test_superset.py), not on new ones here."""

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
        [sys.executable, "-m", "orchestration.cli", "bench", "--lines", "sample", "--out", str(out), "--score-rows",
         "2000", "--no-latency"],
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
    assert not result["api_latency"] and not result["chart_latency"]  # --no-latency
    (scored,) = payload["scoring"]
    assert (scored["rows"], scored["format"]) == (2000, "csv") and scored["peak_rss_mb"] > 100
