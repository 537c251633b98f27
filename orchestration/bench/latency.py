"""Latency of what people read: the HTTP API under 16 concurrent clients, and every dashboard chart through
Superset's chart data API, on a built home's published warehouse.

API (`measure_api`): the real server (`comptoir api` in a process of its own, on 127.0.0.1), a key with every
scope from the real key store, then per read endpoint a bounded asyncio loop: ``clients`` coroutines share one
httpx.AsyncClient (keep-alive, one connection each) and issue requests until ``requests`` are done; each request's
latency is recorded and a non-2xx answer (or a failed connection) is an error. The arguments are the published
warehouse's own values (its as-of date, a customer, a category, a country, a forecast series), so every request
reads real rows. `/v1/kpis` gives the throughput figure; `POST /v1/score/batch` is timed with a 10,000-row CSV
made by orchestration/bench/scoring.py.

Charts (`measure_charts`, or `SupersetSession` to serve once and measure several homes): a throw-away Superset
home under the bench's work folder (initialised once and kept), served by gunicorn, synced onto the measured
home's published file (the sync points Superset's database at it: nothing is copied), then, logged in as the
business viewer, every chart of every dashboard with its dashboard's default date range and ``force`` (no cache),
one chart at a time, ``rounds`` rounds.

Alone, on a built home:

    python -m orchestration.bench.latency --home $COMPTOIR_HOME --work /tmp/latency [--requests 400] [--no-charts]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import duckdb
import httpx

from orchestration.settings import PUBLISHED_DIR, REPO_ROOT, WAREHOUSE_FILE, private_dir

log = logging.getLogger(__name__)

CLIENTS = 16
REQUESTS_PER_ENDPOINT = 400
WARMUP_PER_ENDPOINT = 32
BATCH_ROWS = 10_000
BATCH_REPEATS = 3
CHART_ROUNDS = 2
SLOWEST = 5
MONTHS = 12  # the API's and the dashboards' default range: 12 calendar months up to the as-of date
HOST = "127.0.0.1"
START_TIMEOUT = 120.0
REQUEST_TIMEOUT = 120.0
KPIS = "GET /v1/kpis"  # the same call again and again: the throughput of an answer the API keeps
CUSTOMERS_TO_VARY = 1000
SCORE_BATCH = "POST /v1/score/batch"


# --------------------------------------------------------------------------------------------
# Pure parts: summaries and the requests
# --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise_latencies(seconds: list[float], wall_seconds: float | None = None, errors: int = 0
                        ) -> dict[str, Any]:
    """p50/p95/p99/max/mean in milliseconds of request latencies given in seconds; requests/s over the wall time
    the requests took all together (answered requests and errors both count as done)."""
    done = len(seconds) + errors

    def ms(value: float) -> float | None:
        return None if math.isnan(value) else value * 1000

    return {
        "requests": done,
        "errors": errors,
        "p50_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds)) if seconds else None,
        "mean_ms": ms(statistics.fmean(seconds)) if seconds else None,
        "requests_per_second": done / wall_seconds if wall_seconds else None,
    }


@dataclass(frozen=True)
class WarehouseValues:
    """Real arguments for the API's requests, read from the published warehouse."""

    as_of: date
    customer_id: str
    category: str
    country: str
    series: str
    customers: tuple[str, ...] = ()  # customers with the most orders, for requests that vary the customer


# How a request changes from one call to the next, so that it is a new query each time rather than an answer the
# API keeps for its published version (DECISIONS.md "The API keeps results per published version"): the date
# range moves back one day per call; the customer (or the free text, a customer id's end) is the next customer.
# A request that does not vary is the same call again: after the first, its answer comes from that cache.
SAME, RANGE, CUSTOMER, TEXT = "same", "range", "customer", "text"


@dataclass(frozen=True)
class ApiRequest:
    label: str  # as the report names it: method, route, and what the arguments are when a route has several
    route: str  # the route's template, e.g. /v1/customers/{customer_id}
    path: str
    params: dict[str, str] = field(default_factory=dict)
    varies: str = SAME

    def call(self, number: int, customers: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
        """The path and parameters of call ``number`` (0, 1, ...)."""
        params = dict(self.params)
        if self.varies == RANGE:
            shift = timedelta(days=number)
            for name in ("from", "to"):
                params[name] = (date.fromisoformat(params[name]) - shift).isoformat()
        elif self.varies in (CUSTOMER, TEXT) and customers:
            customer = customers[number % len(customers)]
            if self.varies == TEXT:
                params["q"] = customer[-5:]
            else:
                return self.route.replace("{customer_id}", quote(customer, safe="")), params
        return self.path, params


def last_months(as_of: date, months: int = MONTHS) -> tuple[date, date]:
    """`months` calendar months up to the as-of date: the first day of the month `months - 1` before, to as_of."""
    index = as_of.year * 12 + as_of.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1), as_of


def api_requests(values: WarehouseValues) -> list[ApiRequest]:
    """One request per read endpoint of api/app.py (two where a filter takes another path), with real values."""
    start, end = last_months(values.as_of)
    period = {"from": start.isoformat(), "to": end.isoformat()}
    customer = quote(values.customer_id, safe="")
    series = quote(values.series, safe=":")

    def get(route: str, params: dict[str, str] | None = None, path: str | None = None, what: str = "",
            varies: str = SAME) -> ApiRequest:
        label = f"GET {route}" + (f" ({what})" if what else "")
        return ApiRequest(label, route, path or route, params or {}, varies)

    return [
        get("/v1/health"),
        get("/v1/kpis"),
        get("/v1/kpis", period, what="12 months, a new range each call", varies=RANGE),
        get("/v1/kpis", {**period, "country": values.country, "category": values.category},
            what="12 months, country, category, a new range each call", varies=RANGE),
        get("/v1/sales/daily", period, what="12 months", varies=RANGE),
        get("/v1/sales/daily", {**period, "category": values.category}, what="12 months, category", varies=RANGE),
        get("/v1/sales/monthly", period, what="12 months", varies=RANGE),
        get("/v1/sales/by-country", {**period, "country": values.country}, what="12 months, country", varies=RANGE),
        get("/v1/products/top", {**period, "n": "10", "by": "revenue"}, what="top 10, 12 months", varies=RANGE),
        get("/v1/customers/top", {**period, "n": "10", "country": values.country}, what="top 10, 12 months, country",
            varies=RANGE),
        get("/v1/customers/{customer_id}", path=f"/v1/customers/{customer}", what="a new customer each call",
            varies=CUSTOMER),
        get("/v1/customers/{customer_id}/orders", {"limit": "100"}, path=f"/v1/customers/{customer}/orders",
            what="a new customer each call", varies=CUSTOMER),
        get("/v1/orders/search", {**period, "status": "completed", "country": values.country, "min_total": "50",
                                  "limit": "100"}, what="status, country, 12 months, min_total", varies=RANGE),
        get("/v1/orders/search", {"q": values.customer_id[-5:], "limit": "100"}, what="free text", varies=TEXT),
        get("/v1/segments/rfm"),
        get("/v1/cohorts/monthly", period, what="12 months", varies=RANGE),
        get("/v1/forecasts/{series}", path=f"/v1/forecasts/{series}"),
        get("/v1/inventory/stockouts", {"n": "100"}),
        get("/v1/quality"),
    ]


@dataclass(frozen=True)
class ChartSample:
    dashboard: str
    chart_id: int
    name: str
    seconds: float
    error: str | None = None


def summarise_charts(samples: list[ChartSample], slowest: int = SLOWEST) -> dict[str, Any]:
    """Every chart request's latency summarised (p50/p95/max ms, errors), and the slowest charts by their median
    over the rounds, with their names."""
    answered = [s.seconds for s in samples if s.error is None]
    per_chart: dict[int, list[ChartSample]] = {}
    for sample in samples:
        per_chart.setdefault(sample.chart_id, []).append(sample)
    ranked = sorted(per_chart.values(), key=lambda runs: (-statistics.median(r.seconds for r in runs),
                                                          runs[0].name))
    errors = [s for s in samples if s.error is not None]
    summary = summarise_latencies(answered, errors=len(errors))
    return {
        "dashboards": len({s.dashboard for s in samples}),
        "charts": len(per_chart),
        "requests": len(samples),
        "errors": len(errors),
        "p50_ms": summary["p50_ms"],
        "p95_ms": summary["p95_ms"],
        "max_ms": summary["max_ms"],
        "mean_ms": summary["mean_ms"],
        "slowest": [{"name": runs[0].name, "dashboard": runs[0].dashboard,
                     "seconds": statistics.median(r.seconds for r in runs)} for runs in ranked[:slowest]],
        "failed": sorted({f"{s.dashboard} / {s.name}: {(s.error or '')[:200]}" for s in errors})[:10],
    }


# --------------------------------------------------------------------------------------------
# The API, served and measured
# --------------------------------------------------------------------------------------------


def read_values(published: Path) -> WarehouseValues:
    """The as-of date, the customer with the most orders, the category and the country with the most revenue, and
    the shop's revenue forecast series (else the first series) of a published warehouse."""
    with duckdb.connect(str(published), read_only=True) as con:
        def first(sql: str) -> Any:
            row = con.execute(sql).fetchone()
            if row is None or row[0] is None:
                raise RuntimeError(f"{published}: nothing for the latency bench from `{' '.join(sql.split())}`")
            return row[0]

        tables = {row[0] for row in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables").fetchall()}
        series = "revenue:total"
        if "ml.forecast_daily_sales" in tables:
            series = first("""select series from (select distinct series from ml.forecast_daily_sales)
                              order by series <> 'revenue:total', series limit 1""")
        return WarehouseValues(
            as_of=first("select max(as_of_date) from marts.mart_kpis"),
            customer_id=first("""select customer_id from marts.dim_customers where not is_unknown_member
                                 order by orders desc nulls last, customer_id limit 1"""),
            category=first("""select category from marts.mart_daily_sales group by category
                              order by sum(revenue) desc, category limit 1"""),
            country=first("""select country_name from marts.mart_sales_by_country group by country_name
                             order by sum(revenue) desc, country_name limit 1"""),
            series=series,
            customers=tuple(row[0] for row in con.execute(f"""
                select customer_id from marts.dim_customers where not is_unknown_member and orders > 0
                order by orders desc, customer_id limit {CUSTOMERS_TO_VARY}""").fetchall()),
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM to the process group (uvicorn and gunicorn finish what is in flight), SIGKILL what is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("process %d did not stop in %.0fs: killing it", process.pid, timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _wait_until_answering(url: str, process: subprocess.Popen[bytes], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} while starting")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as error:
            last = str(error)
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s: {last}")


@contextlib.contextmanager
def _quiet_http_logs() -> Iterator[None]:
    """httpx logs every request at INFO: thousands of lines, and time taken from the measured loop."""
    loggers = [logging.getLogger(name) for name in ("httpx", "httpcore")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def serve_api(home: Path, log_file: Path) -> Iterator[str]:
    """`comptoir api` on a free port of 127.0.0.1 for ``home``, in its own process group; yields its base URL."""
    port = free_port()
    env = {**os.environ, "COMPTOIR_HOME": str(home)}
    with log_file.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "api", "--host", HOST, "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{HOST}:{port}"
    try:
        _wait_until_answering(f"{url}/v1/health", process)
        yield url
    finally:
        # uvicorn re-raises the SIGTERM it handled once it has shut down: -15 is a clean stop
        log.info("API stopped (status %d)", _stop(process))


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    wall_seconds: float = 0.0

    def failed(self, reason: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or reason


async def _load(client: httpx.AsyncClient, request: ApiRequest, total: int, clients: int, first_call: int = 0,
                customers: tuple[str, ...] = ()) -> Load:
    """``clients`` coroutines issue the request until ``total`` have been issued (calls ``first_call`` on, see
    ApiRequest.call); each latency recorded."""
    load = Load()
    issued = 0

    async def worker() -> None:
        nonlocal issued
        while issued < total:
            path, params = request.call(first_call + issued, customers)
            issued += 1
            started = time.perf_counter()
            try:
                response = await client.get(path, params=params)
            except httpx.HTTPError as error:
                load.failed(f"{type(error).__name__}: {error}")
                continue
            load.latencies.append(time.perf_counter() - started)
            if not response.is_success:
                load.failed(f"HTTP {response.status_code}: {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    load.wall_seconds = time.perf_counter() - started
    return load


async def _measure_endpoints(url: str, key: str, requests: list[ApiRequest], total: int, warmup: int,
                             clients: int, customers: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    results = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT) as client:
        for request in requests:
            # the warm-up's calls come after the measured ones, so that it answers none of them in advance
            warm = await _load(client, request, warmup, clients, first_call=total, customers=customers)
            if warm.errors:
                log.warning("%s: %d error(s) while warming up, e.g. %s", request.label, warm.errors, warm.first_error)
            load = await _load(client, request, total, clients, customers=customers)
            summary = summarise_latencies(load.latencies, load.wall_seconds, load.errors)
            log.info("%s: p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, %.0f req/s, %d error(s)", request.label,
                     summary["p50_ms"] or math.nan, summary["p95_ms"] or math.nan, summary["p99_ms"] or math.nan,
                     summary["requests_per_second"] or math.nan, load.errors)
            results.append({"endpoint": request.label, "route": request.route, "path": request.path,
                            "params": request.params, "varies": request.varies, **summary,
                            "first_error": load.first_error})
    return results


def batch_input(home: Path, work: Path, rows: int) -> Path:
    """A CSV of ``rows`` leads from the home's customers (orchestration/bench/scoring.py), written once per home."""
    from orchestration.bench.scoring import feature_rows, write_input

    path = work / f"score-batch-{rows}.csv"
    if not path.exists():
        write_input(feature_rows(home / WAREHOUSE_FILE), rows, path)
    return path


def measure_batch(url: str, key: str, csv_file: Path, rows: int, repeats: int) -> dict[str, Any]:
    """POST /v1/score/batch with the CSV, ``repeats`` times one after another (after one unmeasured call)."""
    body = csv_file.read_bytes()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    seconds: list[float] = []
    errors: list[str] = []
    with httpx.Client(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            try:
                response = client.post("/v1/score/batch", content=body)
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - started
            scored = response.json().get("scored_rows") if response.is_success else None
            if scored != rows:
                errors.append(f"HTTP {response.status_code}, {scored} rows scored: {response.text[:200]}")
            elif attempt:  # the first call loads the model: a warm-up
                seconds.append(elapsed)
    log.info("%s, %d rows: %s s", SCORE_BATCH, rows, ", ".join(f"{s:.2f}" for s in seconds) or "-")
    return {"endpoint": SCORE_BATCH, "rows": rows, "bytes": len(body), "seconds": seconds,
            "median_seconds": statistics.median(seconds) if seconds else None, "errors": len(errors),
            "first_error": errors[0] if errors else None}


def measure_api(home: Path, work: Path, *, requests: int = REQUESTS_PER_ENDPOINT, clients: int = CLIENTS,
                warmup: int = WARMUP_PER_ENDPOINT, batch_rows: int = BATCH_ROWS,
                batch_repeats: int = BATCH_REPEATS) -> dict[str, Any]:
    """Serve ``home``'s published warehouse with `comptoir api` and measure every read endpoint, /v1/kpis'
    throughput and a 10,000-row batch scoring, as module's docstring says."""
    from api.keys import KeyStore

    started = time.perf_counter()
    load_average = os.getloadavg()[0]  # other work on the machine shows in every figure: say how much there was
    private_dir(work)
    values = read_values(home / PUBLISHED_DIR / WAREHOUSE_FILE)
    requests_list = api_requests(values)
    csv_file = batch_input(home, work, batch_rows)
    key, record = KeyStore(home).create("bench-latency", ["aggregates", "customers", "score"])
    log.info("API latency on %s: %d endpoints x %d requests, %d clients", home, len(requests_list), requests,
             clients)
    try:
        with _quiet_http_logs(), serve_api(home, work / "api.log") as url:
            endpoints = asyncio.run(_measure_endpoints(url, key, requests_list, requests, warmup, clients,
                                                       values.customers))
            batch = measure_batch(url, key, csv_file, batch_rows, batch_repeats)
    finally:
        KeyStore(home).revoke(record.key_id)
    kpis = next((e for e in endpoints if e["endpoint"] == KPIS), {})
    return {
        "clients": clients, "requests_per_endpoint": requests, "values": {**asdict(values),
                                                                           "as_of": values.as_of.isoformat()},
        "endpoints": endpoints, "kpis_requests_per_second": kpis.get("requests_per_second"),
        "score_batch": batch, "seconds": time.perf_counter() - started, "load_average": load_average,
    }


# --------------------------------------------------------------------------------------------
# Superset's charts
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _own_metadata_database() -> Iterator[None]:
    """The throw-away Superset keeps its metadata in its own home (SQLite), whatever the environment says."""
    from orchestration.superset.server import DATABASE_URI_ENV

    saved = os.environ.pop(DATABASE_URI_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[DATABASE_URI_ENV] = saved


def dashboard_charts(client: Any) -> list[tuple[str, int, str | None, list[dict[str, Any]]]]:
    """(dashboard title, chart id, the default date range of the dashboard's date filter, the default values of
    its other filters as query filters) for every chart of every dashboard the client sees, in the dashboards'
    order: what a dashboard's first load asks each chart for (e.g. the Customers dashboard's top 20 customers)."""
    found = []
    for row in sorted(client.list_all("dashboard", columns=["id", "dashboard_title"]),
                      key=lambda r: r["dashboard_title"]):
        dashboard = client.get(f"/api/v1/dashboard/{row['id']}")["result"]
        position = json.loads(dashboard.get("position_json") or "{}")
        metadata = json.loads(dashboard.get("json_metadata") or "{}")
        ranges: dict[int, str] = {}
        filters: dict[int, list[dict[str, Any]]] = {}
        for native in metadata.get("native_filter_configuration", []):
            mask = native.get("defaultDataMask", {})
            value = mask.get("filterState", {}).get("value")
            in_scope = [int(chart_id) for chart_id in native.get("chartsInScope", [])]
            if native.get("filterType") == "filter_time" and value:
                ranges.update(dict.fromkeys(in_scope, value))
            for default in mask.get("extraFormData", {}).get("filters", []):
                for chart_id in in_scope:
                    filters.setdefault(chart_id, []).append(default)
        chart_ids = sorted({int(node["meta"]["chartId"]) for node in position.values()
                            if isinstance(node, dict) and node.get("type") == "CHART"})
        found += [(row["dashboard_title"], chart_id, ranges.get(chart_id), filters.get(chart_id, []))
                  for chart_id in chart_ids]
    return found


def chart_requests(client: Any) -> list[tuple[str, int, str, dict[str, Any]]]:
    """(dashboard, chart id, chart name, the chart data request as its dashboard sends it, uncached)."""
    from orchestration.superset.charts import chart_query_context

    requests = []
    for dashboard, chart_id, time_range, filters in dashboard_charts(client):
        chart = client.get(f"/api/v1/chart/{chart_id}")["result"]
        params = json.loads(chart.get("params") or "{}")
        datasource_id = int(params.get("datasource", "0__table").split("__")[0])
        payload = chart_query_context(params, datasource_id, time_range=time_range, force=True, filters=filters)
        requests.append((dashboard, chart_id, chart["slice_name"], payload))
    return requests


def time_chart(client: Any, dashboard: str, chart_id: int, name: str, payload: dict[str, Any]) -> ChartSample:
    from orchestration.superset.client import SupersetError

    started = time.perf_counter()
    try:
        answer = client.chart_data(payload)
    except SupersetError as error:
        return ChartSample(dashboard, chart_id, name, time.perf_counter() - started, str(error))
    seconds = time.perf_counter() - started
    failed = [str(result["error"]) for result in answer.get("result", []) if result.get("error")]
    return ChartSample(dashboard, chart_id, name, seconds, "; ".join(failed) or None)


class SupersetSession:
    """A throw-away Superset under ``work`` (initialised once, kept for later runs), served while the block runs;
    ``measure(published)`` points it at a published warehouse and times every chart."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.home = work / "superset-home"
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._env = contextlib.ExitStack()

    def __enter__(self) -> SupersetSession:
        from orchestration.superset import server
        from orchestration.superset.client import wait_until_healthy

        self._env.enter_context(_own_metadata_database())
        try:
            private_dir(self.home)
            started = time.perf_counter()
            if server.init(self.home):
                log.info("Superset initialised in %.0fs (%s)", time.perf_counter() - started, self.home)
            port = free_port()
            self.url = f"http://{HOST}:{port}"
            self.process = server.start_server(self.home, HOST, port, log_file=self.work / "superset.log")
            wait_until_healthy(self.url, timeout=240)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        log.info("Superset serving on %s in %.0fs", self.url, time.perf_counter() - started)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None:
            log.info("Superset stopped (status %d)", _stop(self.process))
            self.process = None
        self._env.close()

    def measure(self, published: Path, rounds: int = CHART_ROUNDS) -> dict[str, Any]:
        from orchestration.superset import server
        from orchestration.superset.client import SupersetClient
        from orchestration.superset.sync import sync

        started = time.perf_counter()
        load_average = os.getloadavg()[0]
        admin, viewer = server.admin_credential(self.home), server.viewer_credential(self.home)
        synced = sync(self.url, admin.username, admin.password, published_path=published,
                      viewer_password=viewer.password)
        client = SupersetClient(self.url, viewer.username, viewer.password)
        requests = chart_requests(client)
        log.info("chart latency on %s: %d charts of %d dashboards x %d round(s), as %s", published, len(requests),
                 len(synced.dashboards), rounds, viewer.username)
        samples = [time_chart(client, *request) for _ in range(rounds) for request in requests]
        summary = summarise_charts(samples)
        log.info("charts: p50 %.0f ms, p95 %.0f ms, max %.0f ms, %d error(s); slowest %s",
                 summary["p50_ms"] or math.nan, summary["p95_ms"] or math.nan, summary["max_ms"] or math.nan,
                 summary["errors"], ", ".join(f"{s['name']} {s['seconds']:.2f}s" for s in summary["slowest"]))
        return {**summary, "rounds": rounds, "as_of": synced.as_of, "sync_seconds": synced.seconds,
                "seconds": time.perf_counter() - started, "load_average": load_average,
                "per_chart": [asdict(sample) for sample in samples]}


def measure_charts(home: Path, work: Path, rounds: int = CHART_ROUNDS) -> dict[str, Any]:
    """Every dashboard chart of ``home``'s published warehouse, ``rounds`` times, on a Superset served for it."""
    started = time.perf_counter()
    private_dir(work)
    with SupersetSession(work) as superset:
        result = superset.measure(home / PUBLISHED_DIR / WAREHOUSE_FILE, rounds)
    return {**result, "seconds_with_start": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a built COMPTOIR_HOME (published warehouse)")
    parser.add_argument("--work", type=Path, required=True, help="logs, the batch CSV and the Superset home")
    parser.add_argument("--requests", type=int, default=REQUESTS_PER_ENDPOINT, help="requests per endpoint")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--rounds", type=int, default=CHART_ROUNDS, help="rounds over every chart")
    parser.add_argument("--no-api", action="store_true")
    parser.add_argument("--no-charts", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here (default: standard output)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from orchestration.bench.measure import emit_json

    home, work = args.home.resolve(), args.work.resolve()
    payload: dict[str, Any] = {}
    if not args.no_api:
        payload["api"] = measure_api(home, work, requests=args.requests, clients=args.clients)
    if not args.no_charts:
        payload["charts"] = measure_charts(home, work, args.rounds)
    emit_json(payload, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
