"""What a business report says, read from the published warehouse with the API's own queries (api/queries.py),
so the report's figures are the API's and the dashboards' for the same dates (tested against the marts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from api import queries
from api.warehouse import Snapshot
from orchestration.reports.periods import Period

KPI_NAMES = ("revenue", "orders", "customers", "average_order_value", "margin_pct", "conversion_rate")
TOP_N = 10
TREND_WEEKS = 8  # a weekly report's revenue trend: its week and the 7 before, day by day
TREND_MONTHS = 13  # a monthly report's: its month and the 12 before (the same month last year included)
COHORT_MONTHS = 12  # the cohorts summarised: those that started in the 12 months up to the period's end
FORECAST_SERIES = "revenue:total"  # ml.forecast_daily_sales' all-categories revenue
SEGMENTS_FILE = "segments.parquet"  # each report keeps its customers' RFM segments: the next one shows the moves


@dataclass(frozen=True)
class Kpi:
    name: str
    current: Decimal | int | None
    previous: Decimal | int | None
    last_year: Decimal | int | None

    @staticmethod
    def change(now: Any, then: Any) -> float | None:
        """Relative change, None when there is nothing to compare with."""
        if now is None or then in (None, 0):
            return None
        return float(now) / float(then) - 1.0


@dataclass
class ReportFigures:
    period: Period
    as_of: date | None
    kpis: list[Kpi]
    trend: list[dict[str, Any]]
    top_products: list[dict[str, Any]]
    top_customers: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    segment_moves: list[dict[str, Any]] | None  # None: no earlier report to compare with
    moves_since: str | None  # the label of the report the moves are counted from
    cohorts: list[dict[str, Any]]
    forecast: list[dict[str, Any]]
    forecast_model: str | None
    stockouts: list[dict[str, Any]]
    quarantine: list[dict[str, Any]]
    build: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


def _kpis(snapshot: Snapshot, period: Period) -> list[Kpi]:
    figures = [queries.kpi_figures(snapshot, p.start, p.end, None, None)
               for p in (period, period.previous(), period.last_year())]
    # The conversion rate exists per month only (mart_kpis_monthly): a week has none of its own.
    names = KPI_NAMES if period.kind == "monthly" else KPI_NAMES[:-1]
    return [Kpi(name, *(f.get(name) for f in figures)) for name in names]


def _trend(snapshot: Snapshot, period: Period) -> list[dict[str, Any]]:
    if period.kind == "weekly":
        start = period.end - timedelta(weeks=TREND_WEEKS) + timedelta(days=1)
        return [{"start": row["date_day"], "revenue": row["revenue"], "orders": row["orders"]}
                for row in queries.daily_sales(snapshot, start, period.end, None)]
    start = period.start.replace(year=period.start.year - 1)
    return [{"start": row["month_start"], "revenue": row["revenue"], "orders": row["orders"]}
            for row in queries.monthly_sales(snapshot, start, period.start)]


def _cohorts(snapshot: Snapshot, period: Period) -> list[dict[str, Any]]:
    """Per cohort month: its size and the share of it active 1, 3 and 6 months after (None when not yet seen)."""
    first = (period.end.replace(day=1) - timedelta(days=31 * (COHORT_MONTHS - 1))).replace(day=1)
    rows = queries.cohorts_monthly(snapshot, first, period.end)
    cohorts: dict[date, dict[str, Any]] = {}
    for row in rows:
        if row["period_start"] > period.end:
            continue  # only what was known by the end of the period
        cohort = cohorts.setdefault(row["cohort_month"], {"cohort_month": row["cohort_month"],
                                                          "cohort_size": row["cohort_size"],
                                                          "month_1": None, "month_3": None, "month_6": None})
        if row["period_number"] in (1, 3, 6):
            cohort[f"month_{row['period_number']}"] = row["retention_pct"]
    return [cohorts[key] for key in sorted(cohorts)]


def _forecast(snapshot: Snapshot, period: Period) -> tuple[list[dict[str, Any]], str | None]:
    if FORECAST_SERIES not in queries.forecast_series(snapshot):
        return [], None
    rows = queries.forecast(snapshot, FORECAST_SERIES, period.start, period.end + timedelta(days=28))
    models = {row["model"] for row in rows if row["model"]}
    return rows, ", ".join(sorted(models)) or None


def _segment_moves(con: duckdb.DuckDBPyConnection, earlier: Path | None) -> list[dict[str, Any]] | None:
    """Customers per (segment in the earlier report, segment now), the customers who changed segment only."""
    if earlier is None:
        return None
    cursor = con.cursor()
    result = cursor.execute("""
        select coalesce(before.segment, '(new customer)') as segment_before, now.rfm_segment as segment_now,
            count(*) as customers
        from marts.mart_customer_rfm as now
        left join read_parquet(?) as before on before.customer_id = now.customer_id
        where before.segment is distinct from now.rfm_segment
        group by all
        order by customers desc, segment_before, segment_now
    """, [str(earlier)])
    columns = [column[0] for column in result.description or []]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def save_segments(con: duckdb.DuckDBPyConnection, target: Path) -> None:
    """Keep the customers' current RFM segments beside the report (owner only, like the rest of the home)."""
    con.cursor().execute(
        f"copy (select customer_id, rfm_segment as segment from marts.mart_customer_rfm order by customer_id) "
        f"to '{str(target).replace(chr(39), chr(39) * 2)}' (format parquet)")
    target.chmod(0o600)


def collect(con: duckdb.DuckDBPyConnection, period: Period, earlier_segments: Path | None,
            earlier_label: str | None) -> ReportFigures:
    """Every figure of the report of `period` from the published warehouse opened as `con` (read-only)."""
    snapshot = Snapshot(con.cursor(), None)
    as_of = queries.as_of_date(snapshot)
    forecast, model = _forecast(snapshot, period)
    figures = ReportFigures(
        period=period,
        as_of=as_of,
        kpis=_kpis(snapshot, period),
        trend=_trend(snapshot, period),
        top_products=queries.top_products(snapshot, TOP_N, "revenue", period.start, period.end, None),
        # No names or e-mails: a report is mailed and forwarded (DECISIONS.md "Business reports").
        top_customers=[{k: v for k, v in row.items() if k not in ("customer_name", "email")}
                       for row in queries.top_customers(snapshot, TOP_N, period.start, period.end, None)],
        segments=queries.rfm_segments(snapshot),
        segment_moves=_segment_moves(con, earlier_segments),
        moves_since=earlier_label if earlier_segments else None,
        cohorts=_cohorts(snapshot, period),
        forecast=forecast,
        forecast_model=model,
        stockouts=queries.stockouts(snapshot, True, TOP_N),
        quarantine=queries.quarantine(snapshot),
        build=queries.last_build(snapshot),
    )
    if as_of is not None and period.end > as_of:
        figures.notes.append(f"The warehouse's data ends on {as_of:%Y-%m-%d}, before the end of this period: "
                             "its figures are partial.")
    if period.kind == "weekly":
        figures.notes.append("The conversion rate is monthly (sessions are counted per month): a weekly report "
                             "leaves it out.")
    return figures
