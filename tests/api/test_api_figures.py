"""Same numbers everywhere: every aggregate endpoint against SQL on the marts for the same filters, and /v1/kpis
against what the Overview dashboard's datasets compute (their SQL and saved metrics, from superset/assets and
superset/metrics.yaml, run in DuckDB with the dashboard's filters: Superset's TEMPORAL_RANGE is [from, to + 1 day))."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from fastapi.testclient import TestClient

from orchestration.settings import REPO_ROOT
from orchestration.superset.bundle import render_template
from tests.api.conftest import auth

pytestmark = pytest.mark.slow

ASSETS = REPO_ROOT / "superset" / "assets"
FILTERS = [
    {"from": "2025-01-01", "to": "2025-12-31"},
    {"from": "2025-03-10", "to": "2025-04-20", "country": "France"},
    {"from": "2024-06-01", "to": "2025-05-31", "category": "Books"},
    {"from": "2025-07-01", "to": "2025-09-30", "country": "Germany", "category": "Electronics"},
]


@pytest.fixture(scope="module")
def marts(api_home: Path) -> Any:
    con = duckdb.connect(str(api_home / "published" / "comptoir.duckdb"), read_only=True)
    yield con
    con.close()


def _get(client: TestClient, key: str, url: str, params: dict[str, Any] | None = None) -> Any:
    response = client.get(url, params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def _dataset(name: str) -> dict[str, Any]:
    return yaml.safe_load((ASSETS / "datasets" / "comptoir" / f"{name}.yaml").read_text(encoding="utf-8"))


def _relation(dataset: dict[str, Any], from_dttm: str | None = None, to_dttm: str | None = None,
              filters: dict[str, list[Any]] | None = None) -> str:
    """What a dataset reads: its SQL (a virtual dataset, its Jinja rendered as Superset renders it for a chart
    with that date range and those filters) or its table."""
    if dataset.get("sql"):
        return f"({render_template(dataset['sql'], from_dttm=from_dttm, to_dttm=to_dttm, filters=filters)})"
    return f"{dataset['schema']}.{dataset['table_name']}"


def _metric(con: Any, name: str, dataset: dict[str, Any]) -> str:
    """A metric's expression as the dashboard uses it: the dataset's own, else the first metrics.yaml variant
    whose columns the dataset has (as `comptoir superset sync` chooses)."""
    for metric in dataset.get("metrics", []):
        if metric["metric_name"] == name:
            return str(metric["expression"])
    columns = {row[0] for row in con.execute(f"select * from {_relation(dataset)} as source limit 0").description}
    shared = yaml.safe_load((REPO_ROOT / "superset" / "metrics.yaml").read_text(encoding="utf-8"))["metrics"]
    for metric in shared:
        if metric["metric_name"] == name:
            return next(v["expression"] for v in metric["variants"] if set(v["requires"]) <= columns)
    raise KeyError(name)


# The Overview dashboard's big numbers: KPI -> (chart file, its saved metric)
OVERVIEW_CHARTS = {"revenue": "overview_revenue", "orders": "overview_orders", "customers": "overview_customers",
                   "average_order_value": "overview_aov", "margin_pct": "overview_margin_pct"}


def _dashboard_kpis(con: Any, start: str, end: str, country: str | None, category: str | None) -> dict[str, Any]:
    """Each Overview big number computed from its chart's dataset and metric, with the dashboard's filters."""
    after = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
    where = "order_date >= ? and order_date < ?"
    params: list[Any] = [start, after]
    chosen: dict[str, list[Any]] = {}
    if country:
        where += " and country_name = ?"
        params.append(country)
        chosen["country_name"] = [country]
    if category:
        where += " and category = ?"
        params.append(category)
        chosen["category"] = [category]
    figures: dict[str, Any] = {}
    for name, chart_file in OVERVIEW_CHARTS.items():
        chart = yaml.safe_load((ASSETS / "charts" / f"{chart_file}.yaml").read_text(encoding="utf-8"))
        assert chart["params"]["metric"] == name, chart_file
        dataset = _dataset(chart["dataset"])
        expression = _metric(con, name, dataset)
        relation = _relation(dataset, f"{start}T00:00:00", f"{after}T00:00:00", chosen)
        figures[name] = con.execute(f"select {expression} from {relation} as source where {where}",
                                    params).fetchall()[0][0]
    monthly = _dataset("mart_kpis_monthly")
    conversion = _metric(con, "conversion_rate", monthly)
    figures["conversion_rate"] = con.execute(
        f"select {conversion} from marts.mart_kpis_monthly where month_start >= ? and month_start < ?",
        [start, after]).fetchall()[0][0]
    return figures


def _line_kpis(con: Any, start: str, end: str, country: str | None, category: str | None) -> dict[str, Any]:
    """The same figures from the order lines themselves (fct_order_lines and the buyer's country)."""
    where = "lines.is_sale and lines.order_date between ? and ?"
    params: list[Any] = [start, end]
    if country:
        where += " and coalesce(customers.country_name, 'Unknown') = ?"
        params.append(country)
    if category:
        where += " and lines.category = ?"
        params.append(category)
    row = con.execute(f"""
        select sum(lines.revenue), count(distinct lines.order_id),
            count(distinct case when not lines.is_guest and not lines.is_unknown_customer then lines.customer_id end)
        from marts.fct_order_lines as lines
        left join marts.dim_customers as customers on customers.customer_id = lines.customer_id
        where {where}
    """, params).fetchall()[0]
    return dict(zip(("revenue", "orders", "customers"), row, strict=True))


def _close(api: Any, expected: Any, places: int) -> bool:
    if expected is None:
        return api is None
    return abs(Decimal(str(api)) - Decimal(str(expected))) <= Decimal(1).scaleb(-places) / 2


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: "-".join(f.values()))
def test_kpis_equal_the_overview_dashboard(client: TestClient, api_keys: dict[str, str], marts: Any,
                                          filters: dict[str, str]) -> None:
    body = _get(client, api_keys["aggregates"], "/v1/kpis", filters)
    for period, figures in (("period", body["current"]), ("previous_period", body["previous"])):
        expected = _dashboard_kpis(marts, body[period]["from"], body[period]["to"], filters.get("country"),
                                   filters.get("category"))
        assert Decimal(figures["revenue"]) == Decimal(str(expected["revenue"])).quantize(Decimal("0.01"))
        assert figures["orders"] == expected["orders"] and figures["customers"] == expected["customers"]
        lines = _line_kpis(marts, body[period]["from"], body[period]["to"], filters.get("country"),
                           filters.get("category"))
        assert Decimal(figures["revenue"]) == Decimal(str(lines["revenue"] or 0)).quantize(Decimal("0.01"))
        assert (figures["orders"], figures["customers"]) == (lines["orders"], lines["customers"])
        assert _close(figures["average_order_value"], expected["average_order_value"], 2), (figures, expected)
        assert _close(figures["margin_pct"], expected["margin_pct"], 4), (figures, expected)
        assert _close(figures["conversion_rate"], expected["conversion_rate"], 4), (figures, expected)
    # the previous period: the same length, just before
    start, end = date.fromisoformat(body["period"]["from"]), date.fromisoformat(body["period"]["to"])
    before = date.fromisoformat(body["previous_period"]["to"])
    assert before == start - timedelta(days=1)
    assert before - date.fromisoformat(body["previous_period"]["from"]) == end - start


def test_kpis_over_the_whole_history_equal_mart_kpis(client: TestClient, api_keys: dict[str, str],
                                                    marts: Any) -> None:
    period_start, as_of, revenue, orders, customers = marts.execute(
        "select period_start, as_of_date, revenue, orders, customers from marts.mart_kpis").fetchall()[0]
    body = _get(client, api_keys["aggregates"], "/v1/kpis", {"from": str(period_start), "to": str(as_of)})
    assert (Decimal(body["current"]["revenue"]), body["current"]["orders"], body["current"]["customers"]) == (
        revenue, orders, customers)


def test_kpis_default_to_the_dashboards_twelve_months(client: TestClient, api_keys: dict[str, str],
                                                     marts: Any) -> None:
    as_of = marts.execute("select as_of_date from marts.mart_kpis").fetchall()[0][0]
    body = _get(client, api_keys["aggregates"], "/v1/kpis")
    assert date.fromisoformat(body["period"]["to"]).replace(day=1) == as_of.replace(day=1)
    start = date.fromisoformat(body["period"]["from"])
    assert start.day == 1 and (as_of.year * 12 + as_of.month) - (start.year * 12 + start.month) == 11


def _rows(con: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    result = con.execute(sql, params)
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _same(api_rows: list[dict[str, Any]], mart_rows: list[dict[str, Any]], columns: list[str]) -> None:
    assert len(api_rows) == len(mart_rows) > 0
    for api_row, mart_row in zip(api_rows, mart_rows, strict=True):
        for column in columns:
            expected = mart_row[column]
            got = api_row[column]
            if isinstance(expected, Decimal):
                assert Decimal(got) == expected, (column, api_row, mart_row)
            else:
                assert str(got) == str(expected), (column, api_row, mart_row)


def test_daily_sales_equal_mart_daily_sales(client: TestClient, api_keys: dict[str, str], marts: Any) -> None:
    params = {"from": "2025-02-01", "to": "2025-03-31"}
    api_rows = _get(client, api_keys["aggregates"], "/v1/sales/daily", params)
    mart_rows = _rows(marts, """
        select date_day, sum(units) as units, sum(revenue) as revenue, sum(cost) as cost, sum(margin) as margin
        from marts.mart_daily_sales where date_day between ? and ? group by date_day order by date_day
    """, [params["from"], params["to"]])
    _same(api_rows, mart_rows, ["date_day", "units", "revenue", "cost", "margin"])
    # orders of a day: distinct sale orders with a completed line that day, whatever their categories (the
    # per-category rows do not add up)
    orders = dict(marts.execute("select order_date, count(distinct order_id) from marts.fct_order_lines "
                                "where is_sale and order_date between ? and ? group by 1",
                                [params["from"], params["to"]]).fetchall())
    assert all(row["orders"] == orders.get(date.fromisoformat(row["date_day"]), 0) for row in api_rows)
    books = _get(client, api_keys["aggregates"], "/v1/sales/daily", {**params, "category": "Books"})
    mart_books = _rows(marts, "select * from marts.mart_daily_sales where date_day between ? and ? and category = "
                       "'Books' order by date_day", [params["from"], params["to"]])
    _same(books, mart_books, ["date_day", "orders", "units", "revenue", "cost", "margin", "margin_pct",
                              "average_order_value"])


def test_monthly_and_country_sales_equal_their_marts(client: TestClient, api_keys: dict[str, str],
                                                     marts: Any) -> None:
    params = {"from": "2024-07-01", "to": "2025-06-30"}
    monthly = _get(client, api_keys["aggregates"], "/v1/sales/monthly", params)
    mart = _rows(marts, "select * from marts.mart_monthly_sales where month_start between ? and ? "
                 "order by month_start", [params["from"], params["to"]])
    _same(monthly, mart, ["month_start", "orders", "units", "revenue", "cost", "margin", "margin_pct",
                          "average_order_value", "customers", "new_customers"])
    countries = _get(client, api_keys["aggregates"], "/v1/sales/by-country", params)
    mart = _rows(marts, "select * from marts.mart_sales_by_country where month_start between ? and ? "
                 "order by month_start, revenue desc, country_name", [params["from"], params["to"]])
    _same(countries, mart, ["month_start", "country_name", "revenue", "orders", "customers", "average_order_value"])


@pytest.mark.parametrize("by", ["revenue", "units", "margin"])
def test_top_products_equal_mart_product_performance(client: TestClient, api_keys: dict[str, str], marts: Any,
                                                     by: str) -> None:
    """Over the whole history the top products are mart_product_performance's."""
    top = _get(client, api_keys["aggregates"], "/v1/products/top", {"n": 10, "by": by})
    mart = _rows(marts, f"select * from marts.mart_product_performance where revenue > 0 or units > 0 "
                 f"order by {by} desc, product_id limit 10", [])
    _same(top, mart, ["product_id", "revenue", "units", "margin"])


def test_top_customers_equal_the_marts(client: TestClient, api_keys: dict[str, str], marts: Any) -> None:
    """Over the whole history a customer's revenue and orders are dim_customers' lifetime figures."""
    top = _get(client, api_keys["aggregates"], "/v1/customers/top", {"n": 20})
    mart = _rows(marts, "select customer_id, lifetime_revenue as revenue, orders from marts.dim_customers "
                 "where not is_unknown_member and orders > 0 order by lifetime_revenue desc, customer_id limit 20", [])
    _same(top, mart, ["customer_id", "revenue", "orders"])
    france = _get(client, api_keys["aggregates"], "/v1/customers/top", {"n": 5, "country": "France"})
    assert {row["country_name"] for row in france} == {"France"}


def test_segments_cohorts_quality_equal_their_marts(client: TestClient, api_keys: dict[str, str],
                                                    marts: Any) -> None:
    segments = _get(client, api_keys["aggregates"], "/v1/segments/rfm")
    mart = dict(marts.execute("select rfm_segment, count(*) from marts.mart_customer_rfm group by 1").fetchall())
    assert {row["segment"]: row["customers"] for row in segments} == mart
    cohorts = _get(client, api_keys["aggregates"], "/v1/cohorts/monthly", {"from": "2025-01-01", "to": "2025-03-01"})
    mart_cohorts = _rows(marts, "select * from marts.mart_cohort_retention_monthly where cohort_month between "
                         "'2025-01-01' and '2025-03-01' order by cohort_month, period_number", [])
    _same(cohorts, mart_cohorts, ["cohort_month", "period_number", "cohort_size", "active_customers",
                                  "retention_pct", "revenue"])
    quality = _get(client, api_keys["aggregates"], "/v1/quality")
    quarantined = marts.execute("select coalesce(sum(row_count), 0) from marts.mart_data_quality "
                                "where check_name <> 'loaded'").fetchall()[0][0]
    assert sum(row["rows"] for row in quality["quarantine"]) == quarantined
    assert quality["last_build"]["tests_passed"] > 0


def test_forecasts_and_stockouts_equal_the_ml_tables(client: TestClient, api_keys: dict[str, str],
                                                     marts: Any) -> None:
    series = marts.execute("select min(series) from ml.forecast_daily_sales").fetchall()[0][0]
    forecast = _get(client, api_keys["aggregates"], f"/v1/forecasts/{series}")
    count = marts.execute("select count(*) from ml.forecast_daily_sales where series = ?", [series]).fetchall()[0][0]
    assert len(forecast["points"]) == count
    stockouts = _get(client, api_keys["aggregates"], "/v1/inventory/stockouts", {"n": 1000})
    assert len(stockouts) == marts.execute("select count(*) from ml.stockout_forecast").fetchall()[0][0]


SEARCHES = [
    {"country": "France", "from": "2025-01-01", "to": "2025-03-31"},
    {"country": "Unknown", "status": "completed"},
    {"country": "de", "min_total": "50", "max_total": "120.5"},
    {"q": "c0001", "from": "2024-01-01"},
]


@pytest.mark.parametrize("filters", SEARCHES, ids=lambda f: "-".join(f))
def test_order_search_equals_sql_on_the_orders(client: TestClient, api_keys: dict[str, str], marts: Any,
                                               filters: dict[str, str]) -> None:
    """Every page of a search, put together, is what plain SQL over fct_orders and the buyer's country finds."""
    found: list[str] = []
    params: dict[str, Any] = {**filters, "limit": 500}
    while True:
        page = _get(client, api_keys["customers"], "/v1/orders/search", params)
        found += [order["order_id"] for order in page["orders"]]
        if page["next"] is None:
            break
        params = {**filters, "limit": 500, "cursor": page["next"]}
    where, values = ["true"], []
    if "country" in filters:
        where.append("(coalesce(customers.country_name, 'Unknown') = ? or customers.country_code = upper(?))")
        values += [filters["country"]] * 2
    if "status" in filters:
        where.append("orders.order_status = ?")
        values.append(filters["status"])
    for key, condition in (("from", "orders.order_date >= ?"), ("to", "orders.order_date <= ?"),
                           ("min_total", "orders.gross_revenue >= ?"), ("max_total", "orders.gross_revenue <= ?")):
        if key in filters:
            where.append(condition)
            values.append(filters[key])
    if "q" in filters:
        where.append("(lower(orders.order_id) like ? or lower(coalesce(orders.customer_id, '')) like ?)")
        values += [f"%{filters['q'].lower()}%"] * 2
    expected = [row[0] for row in marts.execute(f"""
        select orders.order_id from marts.fct_orders as orders
        left join marts.dim_customers as customers on customers.customer_id = orders.customer_id
        where {' and '.join(where)}
        order by orders.order_date desc, orders.order_id desc""", values).fetchall()]
    assert found == expected and len(expected) > 0


def test_distinct_orders_and_customers_are_exact_for_any_range_country_and_category(
        client: TestClient, api_keys: dict[str, str], marts: Any) -> None:
    """/v1/kpis counts orders and customers as sums of first appearances (mart_serving_distinct_counts): for
    random ranges, each with no filter, a country, a category or both, they equal COUNT(DISTINCT) over the lines.
    The sample holds orders whose lines span days or buyers (its defects): they are what could go wrong."""
    spanning = marts.execute("""
        select count(*) from (
            select order_id from marts.fct_order_lines where is_sale
            group by order_id having count(distinct order_date) > 1 or count(distinct customer_id) > 1)
    """).fetchall()[0][0]
    assert spanning > 0, "the sample no longer has orders spanning days or buyers: this test needs some"
    first, last = marts.execute("select min(order_date), max(order_date) from marts.fct_order_lines").fetchall()[0]
    countries = [c for (c,) in marts.execute("select distinct country_name from marts.mart_serving_sale_orders "
                                             "order by 1").fetchall()]
    categories = [c for (c,) in marts.execute("select distinct category from marts.mart_serving_sale_orders "
                                              "order by 1").fetchall()]
    rng = random.Random(15)
    span = (last - first).days
    for _ in range(60):
        start = first + timedelta(days=rng.randrange(span))
        end = min(last, start + timedelta(days=rng.choice([0, 1, 6, 30, 90, 400])))
        country, category = rng.choice([None, *countries]), rng.choice([None, *categories])
        filters = {"from": str(start), "to": str(end), **({"country": country} if country else {}),
                   **({"category": category} if category else {})}
        current = _get(client, api_keys["aggregates"], "/v1/kpis", filters)["current"]
        lines = _line_kpis(marts, str(start), str(end), country, category)
        assert (current["orders"], current["customers"]) == (lines["orders"], lines["customers"]), filters
