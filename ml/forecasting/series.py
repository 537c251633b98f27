"""Daily sales series read from the marts: shop revenue, revenue and units per category.

``marts.mart_daily_sales`` has one row per calendar day x category with zeros on days without sales (the
calendar spine), so every series is dense. Each series runs from the shop's first day with a completed sale
(days of the spine before it are not "no sales", the shop did not exist yet) to the as-of date (the spine
runs on to 31 December of the as-of year, those days are the future).
"""

from __future__ import annotations

import logging
from datetime import date

import duckdb
import pandas as pd

logger = logging.getLogger(__name__)

TOTAL_CATEGORY = "All categories"
TOTAL_SERIES = "revenue:total"
SERIES_COLUMNS: tuple[str, ...] = ("series", "measure", "category", "ds", "y")


def series_id(measure: str, category: str) -> str:
    """``revenue:total`` for the shop, ``<measure>:<category>`` per category."""
    return TOTAL_SERIES if category == TOTAL_CATEGORY and measure == "revenue" else f"{measure}:{category}"


def read_daily_series(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Long frame (series, measure, category, ds, y), one row per series and day up to ``as_of``, ordered.

    Series: shop revenue (``revenue:total``), revenue per category and units per category, every category
    of ``mart_daily_sales`` (the 'Unknown' category of products missing from the catalogue included).
    """
    frame = con.execute(
        """
        with daily as (
            -- revenue stays decimal until summed: a sum of doubles depends on DuckDB's (parallel) order, and
            -- the last bit of a float would change the model version between two reads of the same data
            select date_day, category, revenue, units
            from marts.mart_daily_sales
            where date_day <= $as_of
        ),
        first_sale as (
            select min(date_day) as first_day from daily where revenue <> 0 or units <> 0
        ),
        window_days as (
            select daily.* from daily cross join first_sale where daily.date_day >= first_sale.first_day
        ),
        long as (
            select 'revenue' as measure, $total as category, date_day, sum(revenue) as y
            from window_days group by date_day
            union all
            select 'revenue', category, date_day, revenue from window_days
            union all
            select 'units', category, date_day, units from window_days
        )
        select
            case when category = $total and measure = 'revenue' then $total_series
                else measure || ':' || category end as series,
            measure,
            category,
            date_day as ds,
            cast(y as double) as y
        from long
        order by measure, category <> $total, category, ds
        """,
        {"as_of": as_of, "total": TOTAL_CATEGORY, "total_series": TOTAL_SERIES},
    ).df()
    frame["ds"] = pd.to_datetime(frame["ds"])
    logger.info("read %d daily series up to %s", frame["series"].nunique(), as_of)
    return frame[list(SERIES_COLUMNS)]


def read_main_markets(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Buyer countries with a country code, by completed-sale revenue up to ``as_of``, largest first.

    Columns: country_code, country_name, revenue, revenue_share (of the revenue with a known country).
    """
    return con.execute(
        """
        select
            country_code,
            any_value(country_name) as country_name,
            cast(sum(revenue) as double) as revenue,
            cast(sum(revenue) as double) / nullif(sum(sum(revenue)) over (), 0) as revenue_share
        from marts.mart_sales_by_country
        where country_code is not null and month_start <= $as_of
        group by country_code
        having sum(revenue) > 0
        order by revenue desc, country_code
        """,
        {"as_of": as_of},
    ).df()
