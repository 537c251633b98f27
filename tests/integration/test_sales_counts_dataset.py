"""The `sales_counts` Superset dataset (superset/assets/datasets/comptoir/sales_counts.yaml), its Jinja rendered as
Superset renders it for a chart's query, against COUNT(DISTINCT) over the sale orders, for random date ranges
(open ones too), countries, categories, splits by country and time grains: every branch of its Jinja (the
precomputed scopes and the COUNT(DISTINCT) fallback) must give the distinct figures."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from orchestration.settings import REPO_ROOT
from orchestration.superset.bundle import render_template

pytestmark = pytest.mark.slow

DATASET = REPO_ROOT / "superset" / "assets" / "datasets" / "comptoir" / "sales_counts.yaml"
# Superset's time grains as the chart data API sends them, and the bucket DuckDB truncates to
GRAINS = {None: None, "P1D": "day", "P1W": "week", "P1M": "month", "P3M": "quarter", "P1Y": "year"}


def _quoted(values: list[str]) -> str:
    return ", ".join("'" + value.replace("'", "''") + "'" for value in values)


def test_sales_counts_equal_distinct_counts_for_random_filters(built_sample: Path) -> None:
    template = yaml.safe_load(DATASET.read_text(encoding="utf-8"))["sql"]
    rng = random.Random(15)
    with duckdb.connect(str(built_sample), read_only=True) as con:
        countries = [row[0] for row in con.execute(
            "select distinct country_name from marts.mart_serving_sale_orders order by 1").fetchall()]
        categories = [row[0] for row in con.execute(
            "select distinct category from marts.mart_serving_sale_orders order by 1").fetchall()]
        first, last = con.execute(
            "select min(order_date), max(order_date) from marts.mart_serving_sale_orders").fetchone()
        # the case that could go wrong: orders and customers appearing on several days, orders in several countries
        assert con.execute("""
            select count(*) filter (where measure = 'orders' and previous_day is not null),
                count(*) filter (where measure = 'customers' and previous_day is not null)
            from marts.mart_serving_distinct_counts""").fetchone() > (0, 0)
        branches: set[bool] = set()
        for _ in range(80):
            start = first + timedelta(days=rng.randrange((last - first).days))
            end = start + timedelta(days=rng.randrange(1, 400))
            open_range = rng.random() < 0.15
            chosen = {"country_name": rng.sample(countries, rng.choice([0, 0, 1, 2])),
                      "category": rng.sample(categories, rng.choice([0, 0, 1, 2]))}
            by_country, grain = rng.random() < 0.3, rng.choice(list(GRAINS))
            columns: list[Any] = []
            if grain:
                columns.append({"columnType": "BASE_AXIS", "sqlExpression": "order_date", "label": "order_date",
                                "expressionType": "SQL", "timeGrain": grain})
            if by_country:
                columns.append("country_name")
            sql = render_template(template, filters=chosen, columns=columns,
                                  from_dttm=None if open_range else f"{start}T00:00:00",
                                  to_dttm=None if open_range else f"{end}T00:00:00")
            branches.add("mart_serving_sale_orders" in sql)
            # the filters Superset applies outside the dataset's SQL, and the chart's grouping
            where = "true" if open_range else f"order_date >= date '{start}' and order_date < date '{end}'"
            for column, values in chosen.items():
                if values:
                    where += f" and {column} in ({_quoted(values)})"
            keys = ([f"date_trunc('{GRAINS[grain]}', order_date)"] if grain else []) + (
                ["country_name"] if by_country else [])
            select, group = ", ".join([*keys, "1"]), f"group by {', '.join(keys)}" if keys else ""
            dataset = con.execute(f"""
                select {select}, coalesce(sum(orders), 0), coalesce(sum(customers), 0), sum(revenue)
                from ({sql}) as virtual_table where {where} {group}""").fetchall()
            distinct = con.execute(f"""
                select {select}, count(distinct order_id),
                    count(distinct case when is_known_customer then customer_id end), sum(revenue)
                from marts.mart_serving_sale_orders where {where} {group}""").fetchall()
            assert sorted(dataset, key=str) == sorted(distinct, key=str), (start, end, open_range, chosen,
                                                                            by_country, grain)
    assert branches == {True, False}, "both the precomputed scopes and the fallback were drawn"

