"""The dashboards end to end: a real Superset (from .venv-bi) over the built sample, synced from superset/assets/,
checked through its REST API and in Debian's headless Chromium.

Generic over the bundle: every chart, dataset and dashboard of superset/assets/ is covered without naming it
(the Overview's figures are additionally compared with the KPI mart). Screenshots go to a temporary folder,
or to docs/screenshots/ when COMPTOIR_SCREENSHOTS=1 (any other value: that folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from orchestration.bench.latency import chart_requests, summarise_charts, time_chart
from orchestration.cli.superset import follower
from orchestration.publish import publish_warehouse, read_fact
from orchestration.settings import REPO_ROOT, Settings
from orchestration.superset.bundle import load_bundle
from orchestration.superset.catalog import ALLOWED_SCHEMAS, is_pii, load_manifest
from orchestration.superset.charts import query_chart
from orchestration.superset.client import SupersetClient, SupersetError, wait_until_healthy
from orchestration.superset.security import VIEWER_ROLE
from orchestration.superset.server import Credential, admin_credential, viewer_credential
from orchestration.superset.sync import ASSETS_DIR, METRICS_FILE, sync
from tests.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.conftest import CommandLines, InitialisedSuperset

pytestmark = pytest.mark.slow

SCREENSHOTS_ENV = "COMPTOIR_SCREENSHOTS"
CHARTS = '[data-test="chart-grid-component"]'


@dataclass
class Superset:
    url: str
    home: Path
    admin: Credential
    viewer: Credential
    timings: dict[str, float]
    command_lines: CommandLines

    @property
    def published(self) -> Path:
        return self.home / "published" / "comptoir.duckdb"

    def client(self, viewer: bool = False) -> SupersetClient:
        cred = self.viewer if viewer else self.admin
        return SupersetClient(self.url, cred.username, cred.password)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _comptoir(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPO_ROOT, env=env,
                               capture_output=True, text=True, timeout=timeout)
    output = completed.stdout[-3000:] + completed.stderr[-3000:]
    assert completed.returncode == 0, f"comptoir {' '.join(args)}:\n{output}"
    return completed


@pytest.fixture(scope="module")
def superset(superset_home: InitialisedSuperset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Superset]:
    """`comptoir superset serve|sync` on a throw-away copy of the session's initialised Superset home (the built
    sample's home, published, `comptoir superset init` run: its saved models too, the build below scores with
    them)."""
    home = superset_home.copy(tmp_path_factory.mktemp("superset") / "home")
    env = superset_home.environment(home)
    timings: dict[str, float] = {"init": superset_home.init_seconds}
    command_lines = superset_home.command_lines
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "superset", "serve", "--port", str(port)],
                               cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        started = time.monotonic()
        wait_until_healthy(url, timeout=240)
        timings["start"] = time.monotonic() - started
        started = time.monotonic()
        with command_lines:  # the sync creates the viewer's account
            synced = _comptoir(env, "superset", "sync", "--url", url)
        timings["sync"] = time.monotonic() - started
        assert "Synced" in synced.stdout
        yield Superset(url, home, admin_credential(home), viewer_credential(home), timings, command_lines)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            status = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
        print(f"\nSuperset timings: {json.dumps({k: round(v, 1) for k, v in timings.items()})}")
    assert status == 0


def _inventory(client: SupersetClient) -> dict[str, list[tuple[int, str]]]:
    columns = {"database": "database_name", "dataset": "table_name", "chart": "slice_name",
               "dashboard": "dashboard_title"}
    return {kind: sorted((int(row["id"]), str(row.get("uuid"))) for row in
                         client.list_all(kind, columns=["id", "uuid", name]))
            for kind, name in columns.items()}


def _bundle_uuids(kind: str) -> set[str]:
    return {asset.uuid for asset in load_bundle(ASSETS_DIR).of(kind)}


# --- private by default -------------------------------------------------------------------------


def test_no_command_line_held_a_password_while_superset_was_set_up(superset: Superset) -> None:
    lines = superset.command_lines
    # The sampler saw the set-up's processes, the admin account's among them.
    assert lines.holding(" db upgrade") and lines.holding("admin_user.py --username admin")
    for credential in (superset.admin, superset.viewer):
        assert len(credential.password) >= 12
        assert lines.holding(credential.password) == [], credential.username


def test_the_admin_made_from_standard_input_logs_in(superset: Superset) -> None:
    assert superset.admin.source.endswith("admin_password")  # generated by `comptoir superset init`
    me = superset.client().get("/api/v1/me/")["result"]
    assert me["username"] == superset.admin.username
    with pytest.raises(SupersetError, match="login as admin failed"):
        SupersetClient(superset.url, superset.admin.username, superset.admin.password + "x")


def test_superset_files_are_owner_only(superset: Superset) -> None:
    folder = superset.home / "superset"
    for name in ("superset.db", "admin_password", "viewer_password", "secret_key", "superset.log"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    for path in (folder, folder / "cache"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert stat.S_IMODE(superset.published.stat().st_mode) == 0o600
    loose = [p for p in [folder, *folder.rglob("*")] if stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert loose == []


def test_no_file_written_holds_a_password_but_its_own_file(superset: Superset) -> None:
    """Logs (superset.log, the serve log), the metadata database (hashes only), the stamp...: no clear password."""
    own = {"admin_password", "viewer_password"}
    files = [p for p in superset.home.rglob("*") if p.is_file() and p.name not in own]
    assert any(p.name == "superset.log" for p in files) and any(p.name == "superset.db" for p in files)
    for credential in (superset.admin, superset.viewer):
        secret = credential.password.encode()
        assert [p for p in files if secret in p.read_bytes()] == [], credential.username


# --- sync -----------------------------------------------------------------------------------------


def test_sync_imports_the_bundle_and_twice_changes_nothing(superset: Superset) -> None:
    client = superset.client()
    before = _inventory(client)
    for kind in ("dataset", "chart", "dashboard"):
        assert {uuid for _, uuid in before[kind]} == _bundle_uuids(f"{kind}s"), kind
    assert len(before["database"]) == 1
    params_before = {c["id"]: client.get(f"/api/v1/chart/{c['id']}")["result"]["params"] for c in
                     client.list_all("chart", columns=["id"])}
    report = sync(superset.url, superset.admin.username, superset.admin.password, published_path=superset.published,
                  viewer_password=superset.viewer.password)
    assert report.charts == len(before["chart"])
    assert _inventory(client) == before
    params_after = {c["id"]: client.get(f"/api/v1/chart/{c['id']}")["result"]["params"] for c in
                    client.list_all("chart", columns=["id"])}
    assert params_after == params_before


def test_editing_a_chart_yaml_and_syncing_updates_that_chart(superset: Superset, tmp_path: Path) -> None:
    assets = shutil.copytree(ASSETS_DIR, tmp_path / "assets")
    chart_file = sorted((assets / "charts").glob("*.yaml"))[0]
    config = yaml.safe_load(chart_file.read_text(encoding="utf-8"))
    uuid = config.get("uuid") or load_bundle(assets).by_name("charts")[chart_file.stem].uuid
    config["slice_name"] = f"{config.get('slice_name', chart_file.stem)} (edited)"
    chart_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    client = superset.client()
    before = _inventory(client)
    try:
        sync(superset.url, superset.admin.username, superset.admin.password, assets, superset.published)
        charts = {row["uuid"]: row for row in client.list_all("chart", columns=["id", "uuid", "slice_name"])}
        assert charts[uuid]["slice_name"] == config["slice_name"]
        assert _inventory(client) == before  # updated in place: same ids, nothing added
    finally:
        sync(superset.url, superset.admin.username, superset.admin.password, published_path=superset.published,
             viewer_password=superset.viewer.password)
    charts = {row["uuid"]: row for row in client.list_all("chart", columns=["id", "uuid", "slice_name"])}
    assert not charts[uuid]["slice_name"].endswith("(edited)")


def test_sync_removes_what_the_bundle_no_longer_has_and_keeps_ui_work(superset: Superset, tmp_path: Path) -> None:
    client = superset.client()
    before = _inventory(client)
    assets = shutil.copytree(ASSETS_DIR, tmp_path / "assets")
    chart_file = sorted((assets / "charts").glob("*.yaml"))[0]
    extra = yaml.safe_load(chart_file.read_text(encoding="utf-8"))
    extra.pop("uuid", None)
    extra["slice_name"] = "Chart about to be removed"
    (assets / "charts" / "about_to_be_removed.yaml").write_text(yaml.safe_dump(extra), encoding="utf-8")
    (assets / "datasets" / "comptoir" / "about_to_be_removed.yaml").write_text(
        yaml.safe_dump({"sql": "select 1 as one from marts.dim_date limit 1", "table_name": "about_to_be_removed"}),
        encoding="utf-8")
    sync(superset.url, superset.admin.username, superset.admin.password, assets, superset.published)
    names = {row["slice_name"] for row in client.list_all("chart", columns=["slice_name"])}
    assert "Chart about to be removed" in names
    assert "about_to_be_removed" in {row["table_name"] for row in client.list_all("dataset", columns=["table_name"])}
    # a chart someone made in the UI (not certified by the sync) on a dataset of the bundle
    dataset_id = min(row["id"] for row in client.list_all("dataset", columns=["id"]))
    made_in_ui = client.post("/api/v1/chart/", json={"slice_name": "Made in the UI", "viz_type": "table",
                                                     "datasource_id": dataset_id, "datasource_type": "table"})["id"]
    try:
        report = sync(superset.url, superset.admin.username, superset.admin.password,
                      published_path=superset.published, viewer_password=superset.viewer.password)
        assert sorted(report.pruned) == ["chart Chart about to be removed", "dataset about_to_be_removed"]
        after = _inventory(client)
        assert after["dataset"] == before["dataset"] and after["dashboard"] == before["dashboard"]
        assert [c for c in after["chart"] if c[0] != made_in_ui] == before["chart"]
        assert made_in_ui in {chart_id for chart_id, _ in after["chart"]}
    finally:
        client.delete(f"/api/v1/chart/{made_in_ui}")


def test_native_filters_apply_to_the_charts_that_have_their_column(superset: Superset) -> None:
    client = superset.client()
    dataset_columns = {
        int(row["id"]): {c["column_name"] for c in client.get(f"/api/v1/dataset/{row['id']}")["result"]["columns"]}
        for row in client.list_all("dataset", columns=["id"])
    }
    for row in client.list_all("dashboard", columns=["id", "slug"]):
        dashboard = client.get(f"/api/v1/dashboard/{row['id']}")["result"]
        position = json.loads(dashboard["position_json"])
        metadata = json.loads(dashboard["json_metadata"])
        charts = {int(node["meta"]["chartId"]) for node in position.values()
                  if isinstance(node, dict) and node.get("type") == "CHART"}
        chart_dataset = {chart_id: int(json.loads(client.get(f"/api/v1/chart/{chart_id}")["result"]["params"])
                                       ["datasource"].split("__")[0]) for chart_id in charts}
        filters = metadata.get("native_filter_configuration", [])
        assert any(f["filterType"] == "filter_time" for f in filters), f"{row['slug']}: no date range filter"
        for native in filters:
            in_scope = set(native["chartsInScope"])
            assert in_scope == charts - set(native["scope"]["excluded"]), (row["slug"], native["name"])
            for target in native["targets"]:
                if "column" in target:
                    column = target["column"]["name"]
                    assert {c for c in charts if column in dataset_columns[chart_dataset[c]]} == in_scope, (
                        row["slug"], native["name"])


# --- (a) every chart's data -----------------------------------------------------------------------


def _default_time_ranges(client: SupersetClient) -> dict[int, str]:
    """Chart id -> the default date range of the dashboard filter that applies to it."""
    ranges: dict[int, str] = {}
    for row in client.list_all("dashboard", columns=["id"]):
        dashboard = client.get(f"/api/v1/dashboard/{row['id']}")["result"]
        metadata = json.loads(dashboard.get("json_metadata") or "{}")
        for native in metadata.get("native_filter_configuration", []):
            value = native.get("defaultDataMask", {}).get("filterState", {}).get("value")
            if native.get("filterType") == "filter_time" and value:
                for chart_id in native.get("chartsInScope", []):
                    ranges[int(chart_id)] = value
    return ranges


def test_every_chart_returns_rows_without_error(superset: Superset) -> None:
    client = superset.client()
    charts = client.list_all("chart", columns=["id", "slice_name"])
    assert charts
    defaults = _default_time_ranges(client)
    for chart in charts:
        for time_range in (None, defaults.get(int(chart["id"]))):
            data = query_chart(client, int(chart["id"]), time_range=time_range)
            assert data.error is None, f"{data.name} ({time_range}): {data.error}"
            assert data.rows >= 1, f"{data.name} ({time_range}) returned no row"


def test_the_chart_latency_measure_times_every_dashboard_chart_as_the_viewer(superset: Superset) -> None:
    """`make bench`'s chart measure (orchestration/bench/latency.py) on this server: every chart of every
    dashboard, as the business viewer, uncached, with no error."""
    client = superset.client(viewer=True)
    requests = chart_requests(client)
    samples = [time_chart(client, *request) for request in requests]
    summary = summarise_charts(samples)
    assert summary["dashboards"] >= 11 and summary["charts"] == summary["requests"] == len(requests) > 50
    assert summary["errors"] == 0, summary["failed"]
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["max_ms"]
    assert all(request[3]["force"] for request in requests)


YEAR_2025 = "2025-01-01 : 2026-01-01"


class ChartRows:
    """The rows of a chart named by its YAML file, as its dashboard asks for them (ids looked up once)."""

    def __init__(self, client: SupersetClient) -> None:
        names = {asset.uuid: asset.name for asset in load_bundle(ASSETS_DIR).of("charts")}
        self.client = client
        self.ids = {names[row["uuid"]]: int(row["id"]) for row in client.list_all("chart", columns=["id", "uuid"])
                    if row["uuid"] in names}

    def __call__(self, chart: str, time_range: str | None = None,
                 filters: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        data = query_chart(self.client, self.ids[chart], time_range=time_range, filters=filters)
        assert data.error is None, f"{chart}: {data.error}"
        return data.data

    def value(self, chart: str, time_range: str | None = None) -> Any:
        """The one figure of a big number."""
        (row,) = self(chart, time_range)
        return next(iter(row.values()))


def test_overview_figures_equal_the_kpi_marts(superset: Superset) -> None:
    charts = ChartRows(superset.client())
    with duckdb.connect(str(superset.published), read_only=True) as con:
        kpis = con.execute(
            "select customers, orders, revenue, average_order_value, margin_pct, conversion_rate from marts.mart_kpis"
        ).fetchone()
        year = con.execute(
            "select sum(revenue), sum(orders) from marts.mart_kpis_monthly "
            "where month_start >= date '2025-01-01' and month_start < date '2026-01-01'"
        ).fetchone()
    assert kpis is not None and year is not None

    def value(name: str, time_range: str | None = None) -> float:
        return float(charts.value(name, time_range))

    customers, orders, revenue, aov, margin_pct, conversion = (float(v) for v in kpis)
    assert value("overview_customers") == customers
    assert value("overview_orders") == orders
    assert value("overview_revenue") == pytest.approx(revenue, abs=0.005)
    assert value("overview_aov") == pytest.approx(aov, abs=0.005)
    assert value("overview_margin_pct") == pytest.approx(margin_pct, abs=0.00005)
    assert value("overview_conversion_rate") == pytest.approx(conversion, abs=0.00005)
    # the date range reaches the charts: a calendar year against the monthly mart's months of that year
    assert value("overview_revenue", YEAR_2025) == pytest.approx(float(year[0]), abs=0.005)
    assert value("overview_orders", YEAR_2025) == float(year[1])


def test_dashboard_figures_equal_independent_sql(superset: Superset) -> None:
    """Each dashboard's headline figures through Superset's chart API against SQL on the marts and ml tables."""
    chart_rows = ChartRows(superset.client())
    with duckdb.connect(str(superset.published), read_only=True) as con:
        def sql(query: str) -> list[tuple[Any, ...]]:
            return con.execute(query).fetchall()

        # Customers: the top 20 Belgian customers of 2025, ranked within Belgium and that year
        top = chart_rows("customers_top_customers", YEAR_2025, [
            {"col": "revenue_rank", "op": "<=", "val": 20}, {"col": "country_name", "op": "IN", "val": ["Belgium"]}])
        expected = sql("""
            select lines.customer_id, sum(lines.revenue) as revenue
            from marts.fct_order_lines as lines join marts.dim_customers as customers using (customer_id)
            where lines.is_sale and not lines.is_guest and not lines.is_unknown_customer
              and customers.country_name = 'Belgium'
              and lines.order_date >= date '2025-01-01' and lines.order_date < date '2026-01-01'
            group by 1 order by 2 desc, 1 limit 20""")
        assert len(expected) == 20  # the sample has more Belgian buyers in 2025: the cut is N, not the data
        ranked = sorted((int(row["customer_label"].split(".")[0]), row["customer_label"].split(". ")[1],
                         float(row["revenue"])) for row in top)
        assert [(rank, customer) for rank, customer, _ in ranked] == [
            (rank, customer) for rank, (customer, _) in enumerate(expected, start=1)]
        assert [revenue for *_, revenue in ranked] == pytest.approx([float(r) for _, r in expected], abs=0.005)
        assert {row["country_name"] for row in top} == {"Belgium"}

        # Countries: revenue per country in 2025, against the monthly country mart
        by_country = {row["country_name"]: float(row["revenue"])
                      for row in chart_rows("countries_revenue_by_country", YEAR_2025)}
        assert len(by_country) >= 5
        assert by_country == pytest.approx({country: float(revenue) for country, revenue in sql("""
            select country_name, sum(revenue) from marts.mart_sales_by_country
            where month_start >= date '2025-01-01' and month_start < date '2026-01-01' group by 1""")}, abs=0.005)

        # Products: the all-time top 10 against the product mart
        top_10 = {row["product_name"]: float(row["revenue"]) for row in chart_rows("products_top_10")}
        assert top_10 == pytest.approx({name: float(revenue) for name, revenue in sql(
            "select product_name, revenue from marts.mart_product_performance where is_top_10")}, abs=0.005)

        # Trends: monthly revenue of 2025 against the monthly sales mart
        monthly = [float(row["revenue"]) for row in sorted(
            chart_rows("trends_monthly_revenue", YEAR_2025), key=lambda row: row["order_date"])]
        assert monthly == pytest.approx([float(r) for (r,) in sql(
            "select revenue from marts.mart_monthly_sales where year(month_start) = 2025 order by month_start")],
            abs=0.005)

        # RFM: customers per segment
        segments = {row["rfm_segment"]: row["customers"] for row in chart_rows("rfm_customers_by_segment")}
        assert segments == dict(sql("select rfm_segment, count(*) from marts.mart_customer_rfm group by 1"))

        # Lead scoring: Hot / Warm / Cold
        tiers = dict(sql("select segment, count(*) from ml.customer_scores group by 1"))
        for tier in ("Hot", "Warm", "Cold"):
            assert chart_rows.value(f"lead_scoring_{tier.lower()}") == tiers[tier], tier

        # Inventory: products out of stock in every warehouse
        assert chart_rows.value("inventory_out_of_stock") == sql(
            "select count(distinct product_id) from marts.mart_inventory where product_stock = 0")[0][0]


LINES_2025 = """
    from marts.fct_order_lines as lines
    left join marts.dim_customers as customers on customers.customer_id = lines.customer_id
    left join marts.dim_products as products on products.product_id = lines.product_id
    where lines.is_sale and lines.order_date >= date '2025-01-01' and lines.order_date < date '2026-01-01'
"""
KNOWN = "case when not lines.is_guest and not lines.is_unknown_customer then lines.customer_id end"


def _month(value: Any) -> str:
    """A time-series chart's x value (epoch milliseconds, or ISO text) as YYYY-MM."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m")
    return str(value)[:7]


def test_charts_on_the_serving_marts_equal_the_order_lines(superset: Superset) -> None:
    """The sales charts read serving marts (DECISIONS.md "Serving marts"); with the dashboards' filters their
    figures are those of the order lines themselves, distinct orders and customers included."""
    chart_rows = ChartRows(superset.client())
    with duckdb.connect(str(superset.published), read_only=True) as con:
        def sql(query: str) -> list[tuple[Any, ...]]:
            return con.execute(query).fetchall()

        # Overview big numbers for one country and one category (sums of first appearances in that scope), and
        # for one country and two categories (counted over the sale orders: an order in both counts once)
        for categories in (["Books"], ["Books", "Electronics"]):
            chosen = [{"col": "country_name", "op": "IN", "val": ["France"]},
                      {"col": "category", "op": "IN", "val": categories}]
            (revenue, orders, customers), = sql(f"""
                select sum(lines.revenue), count(distinct lines.order_id), count(distinct {KNOWN}) {LINES_2025}
                  and coalesce(customers.country_name, 'Unknown') = 'France'
                  and lines.category in ({", ".join(f"'{c}'" for c in categories)})""")
            figures = {name: next(iter(chart_rows(f"overview_{name}", YEAR_2025, chosen)[0].values()))
                       for name in ("revenue", "orders", "customers", "aov")}
            assert (figures["orders"], figures["customers"]) == (orders, customers), categories
            assert float(figures["revenue"]) == pytest.approx(float(revenue), abs=0.005)
            assert float(figures["aov"]) == pytest.approx(float(revenue) / orders, abs=0.005)

        # Countries table: orders, customers and AOV per country over 2025
        table = {row["country_name"]: (row["orders"], row["customers"], float(row["revenue"]))
                 for row in chart_rows("countries_table", YEAR_2025)}
        expected = {country: (o, c, float(r)) for country, o, c, r in sql(f"""
            select coalesce(customers.country_name, 'Unknown'), count(distinct lines.order_id),
                count(distinct {KNOWN}), sum(lines.revenue) {LINES_2025} group by 1""")}
        assert table.keys() == expected.keys()
        for country, (o, c, r) in expected.items():
            assert table[country][:2] == (o, c), country
            assert table[country][2] == pytest.approx(r, abs=0.005), country

        # Trends: sale orders per month of 2025 (an order counts once in each month it appears in), for every
        # category and for one
        monthly = {_month(row["order_date"]): row["orders"] for row in chart_rows("trends_monthly_orders", YEAR_2025)}
        assert monthly == {month: n for month, n in sql(f"""
            select strftime(lines.order_date, '%Y-%m'), count(distinct lines.order_id) {LINES_2025} group by 1""")}
        books = [{"col": "category", "op": "IN", "val": ["Books"]}]
        monthly = {_month(row["order_date"]): row["orders"]
                   for row in chart_rows("trends_monthly_orders", YEAR_2025, books)}
        assert monthly == {month: n for month, n in sql(f"""
            select strftime(lines.order_date, '%Y-%m'), count(distinct lines.order_id) {LINES_2025}
              and lines.category = 'Books' group by 1""")}

        # Products: units and the lowest and highest price paid per product in 2025
        prices = {row["product_name"]: (row["units"], float(row["min_unit_price"]), float(row["max_unit_price"]))
                  for row in chart_rows("products_prices", YEAR_2025)}
        assert prices == {name: (units, float(low), float(high)) for name, units, low, high in sql(f"""
            select products.product_name, sum(lines.quantity), min(lines.unit_price), max(lines.unit_price)
            {LINES_2025} group by 1""")}


def test_datasets_carry_dbt_descriptions_and_metrics_and_no_personal_column(superset: Superset) -> None:
    client = superset.client()
    manifest = load_manifest(REPO_ROOT / "dbt_project" / "target" / "manifest.json")
    library = {m["metric_name"]: m for m in yaml.safe_load(METRICS_FILE.read_text(encoding="utf-8"))["metrics"]}
    described = 0
    for row in client.list_all("dataset", columns=["id"]):
        dataset = client.get(f"/api/v1/dataset/{row['id']}")["result"]
        assert dataset["schema"] in ALLOWED_SCHEMAS, dataset["table_name"]
        columns = {c["column_name"]: c for c in dataset["columns"]}
        assert not [name for name in columns if is_pii(name)], dataset["table_name"]
        relation = manifest.get((dataset["schema"], dataset["table_name"]))
        if relation is not None and not dataset.get("sql"):
            for name, description in relation.columns.items():
                if description and name in columns:
                    assert columns[name]["description"] == description, (dataset["table_name"], name)
                    described += 1
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        for name, metric in library.items():
            if any(set(v["requires"]) <= set(columns) for v in metric["variants"]):
                assert name in metrics, (dataset["table_name"], name)
    assert described > 0


# --- (b) every dashboard in a real browser, as the business viewer --------------------------------


def _screenshot_dir(tmp_path: Path) -> Path:
    choice = os.environ.get(SCREENSHOTS_ENV)
    if not choice:
        return tmp_path
    return REPO_ROOT / "docs" / "screenshots" if choice == "1" else Path(choice)


def _login(page: Any, url: str, cred: Credential) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        page.goto(f"{url}/login/")
        page.wait_for_selector("#username", timeout=60_000)
        page.fill("#username", cred.username)
        page.fill("#password", cred.password)
        page.click("[type=submit]")
        try:
            page.wait_for_url(lambda address: "/login" not in address, timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"could not log in as {cred.username}")


def _wait_for_charts(page: Any, expected: int, data_answers: list[int], timeout: float = 120,
                     settle: bool = False) -> None:
    """Until every chart holder shows a rendered chart or an error tile and nothing is loading; `settle`: then
    also until the network is quiet and the drawing animations are over (for screenshots kept in docs/)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rendered = page.locator(f'{CHARTS} [data-test="chart-container"]').count()
        failed = page.locator(f"{CHARTS} [role=alert]").count()
        loading = page.locator(f'{CHARTS} [data-test="loading-indicator"]').count()
        if rendered + failed >= expected and loading == 0 and len(data_answers) >= expected:
            if settle:
                # Quiet network is nicer for the screenshot but not required: Superset may keep polling.
                with contextlib.suppress(PlaywrightTimeout):
                    page.wait_for_load_state("networkidle", timeout=15_000)
                page.wait_for_timeout(3000)  # let the charts' drawing animations end before the screenshot
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"charts still loading after {timeout:.0f}s")


def test_every_dashboard_renders_in_chromium_without_error_tiles(superset: Superset, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    admin = superset.client()
    dashboards = {row["slug"]: int(row["id"]) for row in admin.list_all("dashboard", columns=["id", "slug"])}
    viewer_sees = {row["slug"] for row in superset.client(viewer=True).list_all("dashboard", columns=["slug"])}
    assert viewer_sees == set(dashboards)
    folder = _screenshot_dir(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    settle = bool(os.environ.get(SCREENSHOTS_ENV))  # screenshots for docs/: wait for the drawing to end
    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1100})
        # nothing may leave the machine: record and refuse any request to another host
        context.route(lambda address: not address.startswith(superset.url),
                      lambda route: (outside.append(route.request.url), route.abort()))
        page = context.new_page()
        _login(page, superset.url, superset.viewer)
        for slug, dashboard_id in sorted(dashboards.items()):
            position = json.loads(admin.get(f"/api/v1/dashboard/{dashboard_id}")["result"]["position_json"])
            expected = sum(1 for node in position.values() if isinstance(node, dict) and node.get("type") == "CHART")
            answers: list[int] = []
            failures: list[str] = []

            def on_response(response: Any, answers: list[int] = answers, failures: list[str] = failures) -> None:
                # chart data: the chart data API, or the legacy endpoint of older chart types (world_map)
                if "/api/v1/chart/data" in response.url or "/superset/explore_json/" in response.url:
                    answers.append(response.status)
                    if response.status != 200:
                        failures.append(f"{response.status} {response.text()[:300]}")

            page.on("response", on_response)
            started = time.monotonic()
            page.goto(f"{superset.url}/superset/dashboard/{slug}/?standalone=1")
            _wait_for_charts(page, expected, answers, settle=settle)
            seconds = time.monotonic() - started
            errors = page.locator(f"{CHARTS} [role=alert]").all_inner_texts()
            assert not errors, f"{slug}: error tiles: {errors}"
            assert not failures, f"{slug}: chart data requests failed: {failures}"
            assert page.locator(f'{CHARTS} [data-test="chart-container"]').count() == expected, slug
            # a dashboard taller than the window captures blank in full_page: grow the window, let it redraw
            height = page.evaluate("() => document.documentElement.scrollHeight")
            if height > page.viewport_size["height"]:
                page.set_viewport_size({"width": 1440, "height": height})
                _wait_for_charts(page, expected, answers, settle=settle)
            page.screenshot(path=str(folder / f"{slug}.png"), full_page=True)
            page.set_viewport_size({"width": 1440, "height": 1100})
            page.remove_listener("response", on_response)
            assert not failures, f"{slug}: chart data requests failed while redrawing: {failures}"
            print(f"dashboard {slug}: {expected} charts in {seconds:.1f}s -> {folder / (slug + '.png')}")
        browser.close()
    assert not outside, f"requests to other hosts: {outside}"


# --- (c) the business viewer ----------------------------------------------------------------------


def test_business_viewer_is_refused_sql_lab_and_raw_tables(superset: Superset) -> None:
    from playwright.sync_api import sync_playwright

    admin = superset.client()
    viewer = superset.client(viewer=True)
    database_id = int(admin.list_all("database", columns=["id"])[0]["id"])
    roles = {row["name"] for row in admin.list_all("security/roles")}
    assert VIEWER_ROLE in roles

    refused = (401, 403, 404, 422)
    # dashboards and their datasets only: no database, no dataset of a raw or staging table
    viewer.request("GET", "/api/v1/database/", expect=refused)
    viewer.request("GET", f"/api/v1/database/{database_id}", expect=refused)
    visible = {row["uuid"] for row in viewer.list_all("dataset", columns=["uuid"])}
    assert visible == {row["uuid"] for row in admin.list_all("dataset", columns=["uuid"])}
    chart = viewer.list_all("chart", columns=["id"])[0]
    assert query_chart(viewer, int(chart["id"])).error is None

    with pytest.raises(SupersetError, match=r"-> (401|403|404)"):
        viewer.post("/api/v1/sqllab/execute/", json={"database_id": database_id, "sql": "select * from raw.orders"})
    viewer.request("GET", f"/api/v1/database/{database_id}/tables/?q=(schema_name:raw)", expect=refused)
    viewer.request("GET", f"/api/v1/database/{database_id}/select_star/orders/raw/", expect=refused)
    viewer.request("POST", "/api/v1/dataset/", expect=refused,
                   json={"database": database_id, "schema": "raw", "table_name": "orders"})
    viewer.request("PUT", f"/api/v1/chart/{chart['id']}", expect=refused, json={"slice_name": "changed"})

    # the SQL Lab page itself, in the browser
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        _login(page, superset.url, superset.viewer)
        response = page.goto(f"{superset.url}/sqllab/")
        page.wait_for_load_state("load")
        page.wait_for_timeout(2000)  # a client-side redirect away from SQL Lab, if any, has happened
        assert (response is not None and response.status == 403) or "/sqllab" not in page.url
        assert page.locator(".ace_editor, [data-test=sql-editor-tabs]").count() == 0
        browser.close()


# --- item 2: dashboards keep answering while a build runs and publishes ----------------------------


def test_charts_keep_answering_while_a_build_runs_and_publishes(superset: Superset, sample_dir: Path) -> None:
    client = superset.client()
    chart_ids = [int(row["id"]) for row in client.list_all("chart", columns=["id"])]
    env = {**os.environ, "COMPTOIR_HOME": str(superset.home)}
    build_log = superset.home / "build-during-queries.log"
    # What `comptoir serve` runs beside its Superset: re-sync the dashboards after each publish.
    following = follower(Settings(seeds_dir=sample_dir, home=superset.home), superset.url).start()
    # The daily schedule's build (scores with the saved models): the same publish as a re-fit, half a minute sooner.
    build = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "build", "--seeds", str(sample_dir),
                              "--no-refit"],
                             cwd=REPO_ROOT, env=env, stdout=build_log.open("w"), stderr=subprocess.STDOUT)
    publishes = 0
    stop = threading.Event()

    def publish_repeatedly() -> None:
        nonlocal publishes
        while not stop.is_set():
            publish_warehouse(superset.home / "comptoir.duckdb", superset.published)
            publishes += 1

    errors: list[str] = []
    queries = 0

    def query_every_chart() -> None:
        nonlocal queries
        for chart_id in chart_ids:
            data = query_chart(client, chart_id, force=True)  # force: past Superset's cache, to the file
            queries += 1
            if data.error is not None or data.rows < 1:
                errors.append(f"{data.name}: {data.error or 'no row'}")

    publisher = threading.Thread(target=publish_repeatedly, daemon=True)
    try:
        while build.poll() is None:  # the build holds its own file read-write all along
            query_every_chart()
        assert build.returncode == 0, build_log.read_text()[-3000:]
        # the build only published (published.json); the follower re-synced the dashboards after it
        deadline = time.monotonic() + 120
        while following.syncs < 1 and time.monotonic() < deadline:
            time.sleep(1)
        assert following.syncs == 1 and following.synced == read_fact(superset.published)
        assert following.synced is not None and following.synced.run_id is not None
        following.stop()
        during_build = queries
        publisher.start()
        deadline = time.monotonic() + 300
        while publishes < 5 and time.monotonic() < deadline:  # the published file replaced under the readers
            query_every_chart()
    finally:
        following.stop()
        stop.set()
        if publisher.is_alive():
            publisher.join(timeout=60)
        if build.poll() is None:
            build.kill()
    assert during_build >= len(chart_ids) and queries > during_build
    assert publishes >= 5
    assert not errors, errors[:5]
