"""The API's reads: marts and ML tables at their grain, filters as bound parameters (``?``), never formatted in.

Sums of money are rounded to the cent once, as the marts round them (``cast(round(x, 2) as decimal(38, 2))``,
dbt_project/macros/money.sql); ratios are cast to DECIMAL(9,4) as the marts' ``exact_ratio`` does.
The KPI figures are the Overview dashboard's: its datasets (the serving marts mart_serving_sales_daily and
mart_serving_sale_orders) and metrics (superset/metrics.yaml and the datasets' YAML), and the conversion rate from
``mart_kpis_monthly`` over the months whose first day falls in the range, as its chart filters them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from api.warehouse import Snapshot

CENTS = "cast(round({}, 2) as decimal(38, 2))"
RATIO = "cast(case when ({1}) <> 0 then cast(({0}) as decimal(38, 10)) / ({1}) end as decimal(9, 4))"
# Timestamps without a time zone (the shop's export, the pipeline's clock) as ISO 8601 text without an offset:
# a JSON date-time needs one, and inventing one would be wrong.
LOCAL_TIME = "strftime({}, '%Y-%m-%dT%H:%M:%S')"
MONEY_RATIO = "cast(case when ({1}) <> 0 then ({0}) / ({1}) end as decimal(38, 2))"

# The serving marts (dbt_project/models/marts/serving, DECISIONS.md "Serving marts") that the dashboards read:
# completed sales per day x country x category, per day x country x product, and sale orders x category x buyer
# (distinct orders and customers stay exact under any filter). Filters: a date range, a country by name or ISO
# code, a category.
_SERVING_FILTERS = """
    order_date between ? and ?
    and (cast(? as varchar) is null or country_name = ? or country_code = upper(?))
    and (cast(? as varchar) is null or category = ?)
"""


def _serving_params(start: date, end: date, country: str | None, category: str | None) -> list[Any]:
    return [start, end, country, country, country, category, category]


def as_of_date(snapshot: Snapshot) -> date | None:
    row = snapshot.one("select max(as_of_date) as as_of_date from marts.mart_kpis")
    return row["as_of_date"] if row else None


# Distinct orders and customers over a range as sums of first appearances (mart_serving_distinct_counts,
# DECISIONS.md "Distinct counts as sums"): exact for one country and one category at most, as the API filters.
_DISTINCT_COUNTS = """
    select
        coalesce(sum(case when measure = 'orders' then appearances end), 0) as orders,
        coalesce(sum(case when measure = 'customers' then appearances end), 0) as customers
    from marts.mart_serving_distinct_counts
    where order_date between ? and ?
        and (cast(? as varchar) is null or country_name = ? or country_code = upper(?))
        and category is not distinct from ?
        and coalesce(case when cast(? as varchar) is null then previous_day else previous_day_in_country end
            < ?, true)
"""


def _distinct_count_params(start: date, end: date, country: str | None, category: str | None) -> list[Any]:
    return [start, end, country, country, country, category, country, start]


def kpi_figures(snapshot: Snapshot, start: date, end: date, country: str | None, category: str | None
                ) -> dict[str, Any]:
    params = _serving_params(start, end, country, category)
    sales = snapshot.one(f"""
        with sums as (
            select
                {CENTS.format("coalesce(sum(revenue), 0)")} as revenue,
                coalesce(sum(margin), 0) as margin,
                coalesce(sum(costed_revenue), 0) as costed_revenue
            from marts.mart_serving_sales_daily
            where {_SERVING_FILTERS}
        ),
        counts as ({_DISTINCT_COUNTS})
        select sums.revenue, counts.orders, counts.customers,
            {MONEY_RATIO.format("sums.revenue", "counts.orders")} as average_order_value,
            {RATIO.format("sums.margin", "sums.costed_revenue")} as margin_pct
        from sums cross join counts
    """, params + _distinct_count_params(start, end, country, category)) or {}
    web = snapshot.one(f"""
        select {RATIO.format("sum(converted_sessions)", "sum(sessions)")} as conversion_rate
        from marts.mart_kpis_monthly
        where month_start between ? and ?
    """, [start, end]) or {}
    return {**sales, "conversion_rate": web.get("conversion_rate")}


def daily_sales(snapshot: Snapshot, start: date, end: date, category: str | None) -> list[dict[str, Any]]:
    if category is not None:
        # mart_daily_sales is day x category: one category's rows are exact as they are
        return snapshot.rows("""
            select date_day, orders, units, revenue, cost, margin, margin_pct, average_order_value
            from marts.mart_daily_sales
            where date_day between ? and ? and category = ?
            order by date_day
        """, [start, end, category])
    # All categories: orders do not add up across categories (an order spans several): a day's distinct sale
    # orders are its first appearances in the all-categories scope (every appearance on a day is its first
    # there); the sums come from the serving rollup. Every day of dim_date is present, as in the mart.
    return snapshot.rows(f"""
        with days as (
            select date_day from marts.dim_date where date_day between ? and ?
        ),
        sums as (
            select order_date, sum(units) as units, sum(revenue) as revenue, sum(cost) as cost,
                sum(costed_revenue) as costed_revenue
            from marts.mart_serving_sales_daily
            where order_date between ? and ?
            group by order_date
        ),
        orders as (
            select order_date, sum(appearances) as orders
            from marts.mart_serving_distinct_counts
            where measure = 'orders' and category is null and order_date between ? and ?
            group by order_date
        ),
        cents as (
            select days.date_day, coalesce(orders.orders, 0) as orders, coalesce(sums.units, 0) as units,
                {CENTS.format("coalesce(sums.revenue, 0)")} as revenue,
                {CENTS.format("coalesce(sums.cost, 0)")} as cost,
                {CENTS.format("coalesce(sums.costed_revenue, 0)")} as costed_revenue
            from days
            left join sums on sums.order_date = days.date_day
            left join orders on orders.order_date = days.date_day
        )
        select date_day, orders, units, revenue, cost, costed_revenue - cost as margin,
            {RATIO.format("costed_revenue - cost", "costed_revenue")} as margin_pct,
            {MONEY_RATIO.format("revenue", "orders")} as average_order_value
        from cents
        order by date_day
    """, [start, end, start, end, start, end])


def monthly_sales(snapshot: Snapshot, start: date, end: date) -> list[dict[str, Any]]:
    return snapshot.rows("""
        select month_start, orders, units, revenue, cost, margin, margin_pct, average_order_value, customers,
            new_customers
        from marts.mart_monthly_sales
        where month_start between ? and ?
        order by month_start
    """, [start, end])


def sales_by_country(snapshot: Snapshot, start: date, end: date, country: str | None) -> list[dict[str, Any]]:
    return snapshot.rows("""
        select month_start, country_code, country_name, revenue, orders, customers, average_order_value
        from marts.mart_sales_by_country
        where month_start between ? and ?
            and (cast(? as varchar) is null or country_name = ? or country_code = upper(?))
        order by month_start, revenue desc, country_name
    """, [start, end, country, country, country])


TOP_PRODUCT_ORDER = {"revenue": "revenue", "units": "units", "margin": "margin"}


def top_products(snapshot: Snapshot, n: int, by: str, start: date, end: date, category: str | None
                 ) -> list[dict[str, Any]]:
    order = TOP_PRODUCT_ORDER[by]  # a fixed column name from the enum, never the caller's text
    return snapshot.rows(f"""
        with sales as (
            select product_id, any_value(product_name) as product_name, any_value(category) as category,
                any_value(brand) as brand, {CENTS.format("sum(revenue)")} as revenue,
                cast(sum(units) as bigint) as units, {CENTS.format("sum(costed_revenue)")} as costed_revenue,
                {CENTS.format("sum(margin)")} as margin
            from marts.mart_serving_product_sales_daily
            where {_SERVING_FILTERS}
            group by product_id
        )
        select row_number() over (order by {order} desc, product_id) as rank, product_id, product_name,
            category, brand, revenue, units, margin, {RATIO.format("margin", "costed_revenue")} as margin_pct
        from sales
        order by rank
        limit ?
    """, [*_serving_params(start, end, None, category), n])


def top_customers(snapshot: Snapshot, n: int, start: date, end: date, country: str | None
                  ) -> list[dict[str, Any]]:
    return snapshot.rows(f"""
        with per_order as (  -- an order's categories summed first: count(*) then counts orders, no distinct
            select customer_id, order_id, sum(revenue) as revenue
            from marts.mart_serving_sale_orders
            where is_known_customer and {_SERVING_FILTERS}
            group by customer_id, order_id
        ),
        sales as (
            select customer_id, {CENTS.format("sum(revenue)")} as revenue, count(*) as orders
            from per_order
            group by customer_id
        ),
        ranked as (
            select row_number() over (order by revenue desc, customer_id) as rank, customer_id, revenue, orders
            from sales
            order by rank
            limit ?
        )
        select ranked.rank, ranked.customer_id, customers.country_name, customers.loyalty_tier, ranked.revenue,
            ranked.orders, customers.customer_name, customers.email
        from ranked
        left join marts.dim_customers as customers on customers.customer_id = ranked.customer_id
        order by ranked.rank
    """, [*_serving_params(start, end, country, None), n])


def customer(snapshot: Snapshot, customer_id: str) -> dict[str, Any] | None:
    return snapshot.one("""
        select customer_id, customer_name, email, city, country_code, country_name, loyalty_tier, registered_on,
            first_order_date, last_order_date, orders, lifetime_revenue, average_order_value
        from marts.dim_customers
        where customer_id = ? and not is_unknown_member
    """, [customer_id])


def customer_rfm(snapshot: Snapshot, customer_id: str) -> dict[str, Any] | None:
    return snapshot.one("""
        select recency_days, frequency, monetary, r_score, f_score, m_score, rfm_score, rfm_segment as segment,
            recommended_action
        from marts.mart_customer_rfm where customer_id = ?
    """, [customer_id])


def customer_score(snapshot: Snapshot, customer_id: str) -> dict[str, Any] | None:
    if not snapshot.has_table("ml", "customer_scores"):
        return None
    return snapshot.one("""
        select score, segment as tier, action, [r for r in [reason_1, reason_2, reason_3] if r is not null]
            as reasons, model_version, as_of_date
        from ml.customer_scores where customer_id = ?
    """, [customer_id])


def customer_segment(snapshot: Snapshot, customer_id: str) -> str | None:
    if not snapshot.has_table("ml", "customer_segments"):
        return None
    row = snapshot.one("select segment_name from ml.customer_segments where customer_id = ?", [customer_id])
    return row["segment_name"] if row else None


def customer_clv(snapshot: Snapshot, customer_id: str) -> dict[str, Any] | None:
    if not snapshot.has_table("ml", "customer_clv"):
        return None
    return snapshot.one("""
        select clv_12m, probability_alive, expected_purchases_365d, model_version
        from ml.customer_clv where customer_id = ?
    """, [customer_id])


# --------------------------------------------------------------------------------------------
# Order search: keyset pagination, newest first
# --------------------------------------------------------------------------------------------


class CursorError(ValueError):
    """A cursor that is not one of ours, or that was made for other filters."""


def filters_digest(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(row: dict[str, Any], digest: str) -> str:
    payload = {"d": row["order_date"].isoformat(), "o": row["order_id"], "f": digest}
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, digest: str) -> tuple[date, str]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        day, order_id, made_for = date.fromisoformat(payload["d"]), str(payload["o"]), payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CursorError("not a cursor this API returned") from None
    if made_for != digest:
        raise CursorError("this cursor was returned for other filters: repeat them, or start without a cursor")
    return day, order_id


def search_orders(snapshot: Snapshot, filters: dict[str, Any], after: tuple[date, str] | None, limit: int
                  ) -> list[dict[str, Any]]:
    """Orders matching ``filters``, newest first by (order_date, order_id) descending: a total order, so pages
    neither skip nor repeat an order. ``limit + 1`` rows are read to know whether a next page exists."""
    # Only the filters given become conditions, with their values as parameters: DuckDB then prunes row groups by
    # the date range and looks a customer up in the publish-time index on fct_orders.customer_id
    # (orchestration/publish.py), which a `(? is null or ...)` condition would prevent.
    conditions: list[str] = []
    params: list[Any] = []

    def where(condition: str, *values: Any) -> None:
        conditions.append(condition)
        params.extend(values)

    if filters.get("customer") is not None:
        where("orders.customer_id = ?", filters["customer"])
    if filters.get("status") is not None:
        where("orders.order_status = ?", filters["status"])
    if filters.get("product") is not None:
        where("orders.order_id in (select order_id from marts.fct_order_lines where product_id = ?)",
              filters["product"])
    if (country := filters.get("country")) is not None:
        where("""((orders.customer_id is null and ? = 'Unknown') or orders.customer_id in (
                    select customer_id from marts.dim_customers
                    where coalesce(country_name, 'Unknown') = ? or country_code = upper(?)))""",
              country, country, country)
    if filters.get("date_from") is not None:
        where("orders.order_date >= ?", filters["date_from"])
    if filters.get("date_to") is not None:
        where("orders.order_date <= ?", filters["date_to"])
    if filters.get("min_total") is not None:
        where("orders.gross_revenue >= ?", filters["min_total"])
    if filters.get("max_total") is not None:
        where("orders.gross_revenue <= ?", filters["max_total"])
    if filters.get("q") is not None:
        where("""(contains(lower(orders.order_id), lower(?))
                    or contains(lower(coalesce(orders.customer_id, '')), lower(?)))""", filters["q"], filters["q"])
    if after is not None:
        where("(orders.order_date < ? or (orders.order_date = ? and orders.order_id < ?))",
              after[0], after[0], after[1])
    # One customer's orders are read through the index first (materialized: a plain `order by ... limit` over
    # the table is planned as a top-N scan of every order); other filters scan fct_orders' matching row groups.
    # The page is chosen on fct_orders alone (a country is matched through its customers), and only the page's
    # rows are joined to dim_customers for their country: a join of every order would cost the whole table.
    materialized = "materialized" if filters.get("customer") is not None else ""
    return snapshot.rows(f"""
        with matching as {materialized} (
            select orders.order_id, orders.customer_id, orders.ordered_at, orders.order_date, orders.order_status,
                orders.lines, orders.units, orders.revenue, orders.gross_revenue
            from marts.fct_orders as orders
            where {" and ".join(conditions) or "true"}
        ),
        page as (
            select * from matching
            order by order_date desc, order_id desc
            limit ?
        )
        select page.order_id, page.customer_id, {LOCAL_TIME.format("page.ordered_at")} as ordered_at,
            page.order_date, page.order_status, page.lines, page.units, {CENTS.format("page.revenue")} as revenue,
            {CENTS.format("page.gross_revenue")} as gross_revenue,
            case when page.customer_id is null then 'Unknown' else customers.country_name end as country_name
        from page
        left join marts.dim_customers as customers on customers.customer_id = page.customer_id
        order by page.order_date desc, page.order_id desc
    """, [*params, limit + 1])


# --------------------------------------------------------------------------------------------
# Segments, cohorts, forecasts, inventory, quality
# --------------------------------------------------------------------------------------------


def rfm_segments(snapshot: Snapshot) -> list[dict[str, Any]]:
    return snapshot.rows(f"""
        select rfm_segment as segment, any_value(recommended_action) as recommended_action,
            count(*) as customers, {CENTS.format("sum(monetary)")} as revenue,
            {RATIO.format("count(*)", "sum(count(*)) over ()")} as customer_share,
            {RATIO.format("sum(monetary)", "sum(sum(monetary)) over ()")} as revenue_share
        from marts.mart_customer_rfm
        group by rfm_segment
        order by revenue desc, segment
    """)


def cohorts_monthly(snapshot: Snapshot, start: date, end: date) -> list[dict[str, Any]]:
    return snapshot.rows("""
        select cohort_month, period_number, period_start, cohort_size, active_customers, retention_pct, revenue,
            cumulative_revenue_per_customer
        from marts.mart_cohort_retention_monthly
        where cohort_month between ? and ?
        order by cohort_month, period_number
    """, [start, end])


def forecast_series(snapshot: Snapshot) -> list[str]:
    if not snapshot.has_table("ml", "forecast_daily_sales"):
        return []
    return [row["series"] for row in snapshot.rows(
        "select distinct series from ml.forecast_daily_sales order by series")]


def forecast(snapshot: Snapshot, series: str, start: date | None, end: date | None) -> list[dict[str, Any]]:
    return snapshot.rows("""
        select date_day, measure, category, actual, yhat, yhat_lower, yhat_upper, is_forecast, model, model_version
        from ml.forecast_daily_sales
        where series = ? and (cast(? as date) is null or date_day >= ?) and (cast(? as date) is null or date_day <= ?)
        order by date_day
    """, [series, start, start, end, end])


def stockouts(snapshot: Snapshot, within_lead_time: bool | None, limit: int) -> list[dict[str, Any]]:
    if not snapshot.has_table("ml", "stockout_forecast"):
        return []
    return snapshot.rows("""
        select product_id, product_name, category, current_stock, forecast_daily_demand, days_until_stockout,
            stockout_date, stockout_within_lead_time, reorder_quantity, as_of_date
        from ml.stockout_forecast
        where cast(? as boolean) is null or stockout_within_lead_time = ?
        order by days_until_stockout nulls last, product_id
        limit ?
    """, [within_lead_time, within_lead_time, limit])


def quarantine(snapshot: Snapshot) -> list[dict[str, Any]]:
    return snapshot.rows("""
        select source, check_name, detail, row_count as rows, share
        from marts.mart_data_quality
        where check_name <> 'loaded'
        order by source, check_name, detail
    """)


def last_build(snapshot: Snapshot) -> dict[str, Any] | None:
    if not snapshot.has_table("pipeline", "builds"):
        return None
    build = snapshot.one(f"""
        select run_id, {LOCAL_TIME.format("started_at")} as started_at,
            {LOCAL_TIME.format("published_at")} as published_at, tests_passed, tests_warned, tests_failed
        from pipeline.builds order by builds.started_at desc limit 1
    """)
    if build is None:
        return None
    failing: list[str] = []
    if snapshot.has_table("pipeline", "dbt_node_results"):
        failing = [row["name"] for row in snapshot.rows("""
            select name from pipeline.dbt_node_results
            where run_id = ? and resource_type in ('test', 'unit_test') and status in ('fail', 'warn', 'error')
            order by name
        """, [build["run_id"]])]
    return {**build, "failing_tests": failing}


def model_versions(snapshot: Snapshot) -> dict[str, str | None]:
    """The version of each ML table the published warehouse holds (None when the table is absent)."""
    versions: dict[str, str | None] = {}
    for name, table in (("propensity", "customer_scores"), ("clv", "customer_clv"),
                        ("forecasting", "forecast_daily_sales"), ("stockout", "stockout_forecast")):
        row = snapshot.one(f"select max(model_version) as v from ml.{table}") if snapshot.has_table(
            "ml", table) else None
        versions[name] = row["v"] if row else None
    return versions


def to_json_safe(value: Any) -> Any:
    """Dates and decimals as JSON text (for cursors and digests)."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
