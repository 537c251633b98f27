"""The alert rules: each reads the warehouse a build just made (marts, ml, raw) and returns what fires, one
firing per subject (a day, a week, a source, a product). Thresholds come from alerts.yml (config.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

# The rules in the order they are checked and listed; failed_build is recorded when a build fails (state.py).
RULE_NAMES = ("revenue_below_forecast", "conversion_drop", "aov_drop", "quarantine_rate", "stockout",
              "stale_source", "failed_build")
BUILD_RULE = "failed_build"


@dataclass(frozen=True)
class Firing:
    rule: str
    subject: str
    value: float | None
    threshold: float | None
    message: str


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _has(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(_rows(con, "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
                      [schema, table]))


def revenue_below_forecast(con: duckdb.DuckDBPyConnection, config: dict[str, Any], now: datetime) -> list[Firing]:
    if not _has(con, "ml", "forecast_daily_sales"):
        return []
    rows = _rows(con, """
        select forecast.date_day, forecast.actual, forecast.yhat_lower, forecast.yhat
        from ml.forecast_daily_sales as forecast
        where forecast.series = ? and forecast.date_day = (select max(as_of_date) from marts.mart_kpis)
            and forecast.actual is not null and forecast.yhat_lower is not null
            and forecast.actual < forecast.yhat_lower
    """, [config.get("series", "revenue:total")])
    return [Firing("revenue_below_forecast", f"{day}", float(actual), float(lower),
                   f"Revenue on {day} was {actual:,.2f}, below the forecast's 80 % band ({lower:,.2f} to the "
                   f"forecast's {yhat:,.2f}).") for day, actual, lower, yhat in rows]


def _week_on_week(con: duckdb.DuckDBPyConnection, column: str) -> tuple[Any, Any, Any] | None:
    """(week_start, this week's value, last week's) for the last two complete weeks of mart_kpis_weekly."""
    rows = _rows(con, f"""
        select week_start, {column} from marts.mart_kpis_weekly where is_complete order by week_start desc limit 2
    """)  # column: a fixed name chosen below, never configuration text
    if len(rows) < 2 or rows[0][1] is None or not rows[1][1]:
        return None
    return rows[0][0], rows[0][1], rows[1][1]


def _drop(rule: str, label: str, con: duckdb.DuckDBPyConnection, column: str, config: dict[str, Any],
          shown: Callable[[Any], str]) -> list[Firing]:
    found = _week_on_week(con, column)
    if found is None:
        return []
    week, now_value, before = found
    drop = (1 - float(now_value) / float(before)) * 100
    limit = float(config.get("max_drop_pct", 25))
    if drop <= limit:
        return []
    return [Firing(rule, f"week of {week}", round(drop, 2), limit,
                   f"{label} fell {drop:.1f} % week on week (week of {week}: {shown(now_value)}, the week before: "
                   f"{shown(before)}); the alert threshold is {limit:g} %.")]


def conversion_drop(con: duckdb.DuckDBPyConnection, config: dict[str, Any], now: datetime) -> list[Firing]:
    return _drop("conversion_drop", "The conversion rate", con, "conversion_rate", config,
                 lambda value: f"{float(value) * 100:.2f} %")


def aov_drop(con: duckdb.DuckDBPyConnection, config: dict[str, Any], now: datetime) -> list[Firing]:
    return _drop("aov_drop", "The average order value", con, "average_order_value", config,
                 lambda value: f"{float(value):,.2f}")


def quarantine_rate(con: duckdb.DuckDBPyConnection, config: dict[str, Any], now: datetime) -> list[Firing]:
    limit = float(config.get("max_pct", 5))
    rows = _rows(con, """
        with counts as (
            select source,
                sum(case when check_name in ('rejected_at_load', 'quarantined') then row_count else 0 end) as bad,
                sum(case when check_name in ('loaded', 'rejected_at_load') then row_count else 0 end) as lines
            from marts.mart_data_quality
            group by source
        )
        select source, bad, lines, 100.0 * bad / lines as pct from counts where lines > 0 and 100.0 * bad / lines > ?
        order by source
    """, [limit])
    return [Firing("quarantine_rate", source, round(float(pct), 2), limit,
                   f"{bad:,} of {lines:,} lines of {source} ({pct:.1f} %) were rejected or quarantined; the alert "
                   f"threshold is {limit:g} % (see the Data-quality dashboard).") for source, bad, lines, pct in rows]


def stockout(con: duckdb.DuckDBPyConnection, config: dict[str, Any], now: datetime) -> list[Firing]:
    if not _has(con, "ml", "stockout_forecast"):
        return []
    rows = _rows(con, """
        select product_id, product_name, current_stock, days_until_stockout, lead_time_days, stockout_date
        from ml.stockout_forecast where stockout_within_lead_time order by days_until_stockout, product_id
    """)
    return [Firing("stockout", product, float(days) if days is not None else None,
                   float(lead) if lead is not None else None,
                   f"{name or product} ({product}): {stock:,} in stock, forecast to run out in {days:.0f} days "
                   f"(on {out}), within its {lead:g}-day lead time.")
            for product, name, stock, days, lead, out in rows]


def stale_source(con: duckdb.DuckDBPyConnection, config: dict[str, Any], now: datetime) -> list[Firing]:
    limit = float(config.get("max_hours", 48))
    firings = []
    for (table,) in _rows(con, "select table_name from information_schema.columns where table_schema = 'raw' "
                               "and column_name = '_loaded_at' order by 1"):
        (loaded,) = _rows(con, f'select max(_loaded_at) from raw."{table}"')[0]  # a raw table of ours
        if loaded is None:
            continue
        hours = (now - loaded).total_seconds() / 3600
        if hours > limit:
            firings.append(Firing("stale_source", table, round(hours, 1), limit,
                                  f"No new {table} rows since {loaded:%Y-%m-%d %H:%M} ({hours:.0f} hours); the alert "
                                  f"threshold is {limit:g} hours. Check the export that fills the landing folder."))
    return firings


RULES: dict[str, Callable[[duckdb.DuckDBPyConnection, dict[str, Any], datetime], list[Firing]]] = {
    "revenue_below_forecast": revenue_below_forecast,
    "conversion_drop": conversion_drop,
    "aov_drop": aov_drop,
    "quarantine_rate": quarantine_rate,
    "stockout": stockout,
    "stale_source": stale_source,
}
