"""The latency bench's pure parts: percentiles and summaries, the API requests it sends (every read route of the
real application, real values), the chart summary, and the report's latency tables with their goals."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from api.app import create_app
from orchestration.bench.latency import (
    KPIS,
    SCORE_BATCH,
    ChartSample,
    WarehouseValues,
    api_requests,
    last_months,
    percentile,
    read_values,
    summarise_charts,
    summarise_latencies,
)
from orchestration.bench.report import render

VALUES = WarehouseValues(as_of=date(2025, 12, 31), customer_id="C000243", category="Home & Garden",
                         country="France", series="units:Home & Garden")


@pytest.mark.parametrize("q", [0, 1, 50, 95, 99, 100])
def test_percentiles_interpolate_like_numpy(q: float) -> None:
    values = [0.012, 0.003, 0.2, 0.0451, 0.009, 0.031, 0.007, 0.5, 0.0022, 0.018, 0.044]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([0.25], q) == 0.25


def test_summary_in_milliseconds_with_throughput_over_the_wall_time() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    summary = summarise_latencies(seconds, wall_seconds=0.5, errors=4)
    assert summary["requests"] == 104 and summary["errors"] == 4
    assert summary["p50_ms"] == pytest.approx(50.5)
    assert summary["p95_ms"] == pytest.approx(95.05)
    assert summary["p99_ms"] == pytest.approx(99.01)
    assert summary["max_ms"] == pytest.approx(100.0)
    assert summary["mean_ms"] == pytest.approx(50.5)
    assert summary["requests_per_second"] == pytest.approx(208.0)
    empty = summarise_latencies([], errors=3)
    assert empty["requests"] == 3 and empty["p95_ms"] is None and empty["requests_per_second"] is None


@pytest.mark.parametrize(("as_of", "start"), [
    (date(2025, 12, 31), date(2025, 1, 1)), (date(2026, 2, 15), date(2025, 3, 1)), (date(2026, 1, 1),
                                                                                    date(2025, 2, 1))])
def test_last_twelve_calendar_months_up_to_the_as_of_date(as_of: date, start: date) -> None:
    assert last_months(as_of) == (start, as_of)


def _route_of(path: str, templates: set[str]) -> list[str]:
    """The route templates a concrete path takes: itself if it is one, else the templates its segments fill."""
    if path in templates:
        return [path]
    return [t for t in templates if "{" in t and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)]


def test_a_request_for_every_read_route_of_the_api(tmp_path: Path) -> None:
    """Each request's path is a GET route of the real application (its OpenAPI schema), and every GET route under
    /v1 is requested."""
    schema = create_app(tmp_path).openapi()  # nothing published: the routes are all this test needs
    read_routes = {path for path, methods in schema["paths"].items() if path.startswith("/v1") and "get" in methods}
    requests = api_requests(VALUES)
    hit = set()
    for request in requests:
        assert _route_of(request.path, read_routes) == [request.route], request.path
        hit.add(request.route)
    assert hit == read_routes
    assert len({request.label for request in requests}) == len(requests)
    assert KPIS in {request.label for request in requests}
    by_label = {request.label: request for request in requests}
    assert by_label["GET /v1/forecasts/{series}"].path == "/v1/forecasts/units:Home%20%26%20Garden"
    orders = by_label["GET /v1/customers/{customer_id}/orders (a new customer each call)"]
    assert orders.path == "/v1/customers/C000243/orders"
    assert orders.call(1, ("C1", "C2 x")) == ("/v1/customers/C2%20x/orders", {"limit": "100"})
    period = {"from": "2025-01-01", "to": "2025-12-31"}
    assert by_label["GET /v1/sales/daily (12 months, category)"].params == {**period, "category": "Home & Garden"}
    search = by_label["GET /v1/orders/search (status, country, 12 months, min_total)"].params
    assert search["country"] == "France" and search["status"] == "completed" and search["from"] == "2025-01-01"
    # a new range each call: one day earlier per call, so no call repeats another one's query
    kpis = by_label["GET /v1/kpis (12 months, a new range each call)"]
    assert kpis.call(0) == (kpis.path, period)
    assert kpis.call(3) == (kpis.path, {"from": "2024-12-29", "to": "2025-12-28"})
    assert by_label[KPIS].call(7) == (by_label[KPIS].path, {})  # the same call: the API's kept answer


def test_values_come_from_the_published_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema ml")
        con.execute("create table marts.mart_kpis as select date '2025-06-30' as as_of_date")
        con.execute("""create table marts.dim_customers as select * from (values
            ('UNKNOWN', true, 99), ('C1', false, 3), ('C2', false, 5), ('C3', false, null))
            as t(customer_id, is_unknown_member, orders)""")
        con.execute("""create table marts.mart_daily_sales as select * from (values
            ('Books', 10.0), ('Toys', 8.0), ('Toys', 8.0)) as t(category, revenue)""")
        con.execute("""create table marts.mart_sales_by_country as select * from (values
            ('Belgium', 5.0), ('France', 4.0)) as t(country_name, revenue)""")
        con.execute("""create table ml.forecast_daily_sales as select * from (values
            ('revenue:Books'), ('revenue:total'), ('units:Books')) as t(series)""")
    assert read_values(path) == WarehouseValues(as_of=date(2025, 6, 30), customer_id="C2", category="Toys",
                                                country="Belgium", series="revenue:total", customers=("C2", "C1"))


def test_chart_summary_counts_errors_apart_and_names_the_slowest() -> None:
    samples = [
        ChartSample("Overview", 1, "Revenue", 0.10), ChartSample("Overview", 1, "Revenue", 0.12),
        ChartSample("Trends", 2, "Daily revenue", 0.40), ChartSample("Trends", 2, "Daily revenue", 0.60),
        ChartSample("Trends", 3, "Broken", 0.05, "column x does not exist"),
        ChartSample("Trends", 3, "Broken", 0.05, "column x does not exist"),
        ChartSample("Cohorts", 4, "Heatmap", 0.20), ChartSample("Cohorts", 4, "Heatmap", 0.30),
    ]
    summary = summarise_charts(samples, slowest=2)
    assert (summary["dashboards"], summary["charts"], summary["requests"], summary["errors"]) == (3, 4, 8, 2)
    assert summary["p50_ms"] == pytest.approx(250.0)  # of the six answered requests
    assert summary["max_ms"] == pytest.approx(600.0)
    assert [(s["name"], s["seconds"]) for s in summary["slowest"]] == [
        ("Daily revenue", pytest.approx(0.5)), ("Heatmap", pytest.approx(0.25))]
    assert summary["failed"] == ["Trends / Broken: column x does not exist"]


def _endpoint(label: str, p95: float, errors: int = 0, rps: float = 600.0) -> dict:
    return {"endpoint": label, "requests": 400, "errors": errors, "p50_ms": p95 / 2, "p95_ms": p95,
            "p99_ms": p95 * 1.5, "max_ms": p95 * 2, "mean_ms": p95 / 2, "requests_per_second": rps}


def _result(size: str, api: dict | None, charts: dict | None) -> dict:
    return {"size": size, "order_lines": 10, "day_order_lines": 1, "full": [], "incremental": [], "replay": [],
            "pandas": [], "api_latency": api or {}, "chart_latency": charts or {}}


def test_the_report_renders_the_latency_tables_and_their_goals() -> None:
    api = {"clients": 16, "requests_per_endpoint": 400, "seconds": 30.0, "load_average": 0.23,
           "endpoints": [_endpoint("GET /v1/health", 4.0), _endpoint(KPIS, 31.0, rps=620.0),
                         {**_endpoint("GET /v1/orders/search (free text)", 73.5, errors=2), "varies": "text"}],
           "kpis_requests_per_second": 620.0,
           "score_batch": {"endpoint": SCORE_BATCH, "rows": 10_000, "median_seconds": 2.4, "errors": 0}}
    charts = {"dashboards": 11, "charts": 71, "requests": 142, "errors": 1, "p50_ms": 80.0, "p95_ms": 190.0,
              "max_ms": 950.0, "rounds": 2, "seconds": 40.0,
              "slowest": [{"name": "Daily revenue", "dashboard": "Trends", "seconds": 0.95}],
              "failed": ["Trends / Broken: boom"]}
    text = render([_result("sample", None, None), _result("10M", api, charts)], repeat=1, seconds=1.0)
    assert "## API latency (16 concurrent clients)" in text
    assert "| GET /v1/orders/search (free text) | text | 36.8 / 73.5 / 110.2 | 2 |" in text
    assert "| GET /v1/health | same | 2.0 / 4.0 / 6.0 | 0 |" in text
    assert "| `/v1/kpis` throughput, 16 clients | same | 620 req/s | |" in text
    assert "| `POST /v1/score/batch`, 10,000 rows (median) | same | 2.40 s | 0 |" in text
    assert "| p95 ≤ 50 ms, every read endpoint | 73.5 ms (GET /v1/orders/search (free text)) ✗ |" in text
    assert "| ≥ 500 requests/s, `/v1/kpis` | 620 req/s ✓ |" in text
    assert "| `POST /v1/score/batch` of 10,000 rows ≤ 2 s | 2.40 s ✗ |" in text
    assert "## Dashboard chart latency (chart data API, uncached)" in text
    assert "| 10M | 11 | 71 | 142 | 80 ms | 190 ms | 950 ms | 1 | Daily revenue (Trends) 0.95 s |" in text
    assert "| chart p95 ≤ 200 ms | 190 ms ✓ |" in text
    assert "Trends / Broken: boom" in text
    assert "not measured in this run" not in text.split("## API latency")[1].split("## Dashboard")[0]
    sample_only = render([_result("sample", api, charts)], repeat=1, seconds=1.0)
    assert "| goal (set for 10M order lines) | sample |" in sample_only
    assert "10M was not measured in this run" in sample_only
    assert "Measured in 30.0 s (10M, load average 0.2 at the start)" in text
    failed = render([_result("sample", api, {"error": "/x/.venv-bi/bin/superset is missing"})], repeat=1,
                    seconds=1.0)
    assert "| sample | not measured: /x/.venv-bi/bin/superset is missing |" in failed
    without = render([_result("sample", None, None)], repeat=1, seconds=1.0)
    assert "## API latency" not in without and "## Dashboard chart latency" not in without
