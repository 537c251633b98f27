"""A report's figures as charts (matplotlib, drawn to PNG), one HTML page set (Jinja2) and its PDF (WeasyPrint).
The HTML embeds its charts, so the one file can be opened or mailed on its own."""

from __future__ import annotations

import base64
import io
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: draw to files only

import matplotlib.pyplot as plt
from jinja2 import Environment, FileSystemLoader, select_autoescape

from orchestration.reports.figures import Kpi, ReportFigures

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"
ACCENT = "#1f6f8b"
MUTED = "#9aa5ab"
KPI_LABELS = {
    "revenue": "Revenue", "orders": "Orders", "customers": "Customers", "average_order_value": "Average order value",
    "margin_pct": "Margin %", "conversion_rate": "Conversion rate",
}


def money(value: Any) -> str:
    """Money as shown: whole units with thousands separators (the marts keep the cents)."""
    return "—" if value is None else f"{Decimal(value):,.0f}"


def cents(value: Any) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


def count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def percent(value: Any, digits: int = 1) -> str:
    return "—" if value is None else f"{float(value) * 100:.{digits}f} %"


def change(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f} %"


def kpi_value(kpi: Kpi, which: str) -> str:
    value = getattr(kpi, which)
    if kpi.name == "revenue":
        return money(value)
    if kpi.name == "average_order_value":
        return cents(value)
    if kpi.name in ("margin_pct", "conversion_rate"):
        return percent(value)
    return count(value)


def _png(figure: plt.Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=150, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _style(axes: plt.Axes) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="y", color="#e6e9eb", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.tick_params(labelsize=8)


def trend_chart(figures: ReportFigures) -> str | None:
    rows = figures.trend
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7.2, 2.4))
    starts = [row["start"] for row in rows]
    values = [float(row["revenue"] or 0) for row in rows]
    inside = [figures.period.start <= start <= figures.period.end for start in starts]
    colours = [ACCENT if flag else MUTED for flag in inside]
    width = 0.8 if figures.period.kind == "weekly" else 20
    axes.bar(starts, values, color=colours, width=width)
    axes.set_ylabel("Revenue", fontsize=8)
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _style(axes)
    figure.autofmt_xdate()
    return _png(figure)


def forecast_chart(figures: ReportFigures) -> str | None:
    rows = [row for row in figures.forecast if row["yhat"] is not None or row["actual"] is not None]
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7.2, 2.4))
    days = [row["date_day"] for row in rows]
    axes.fill_between(days, [float(r["yhat_lower"] or 0) for r in rows], [float(r["yhat_upper"] or 0) for r in rows],
                      color=ACCENT, alpha=0.15, linewidth=0, label="80 % band")
    axes.plot(days, [float(r["yhat"]) if r["yhat"] is not None else None for r in rows], color=ACCENT,
              linewidth=1.2, label="forecast")
    actual = [(r["date_day"], float(r["actual"])) for r in rows if r["actual"] is not None and not r["is_forecast"]]
    if actual:
        axes.plot([d for d, _ in actual], [v for _, v in actual], color="#333333", linewidth=1.0, label="actual")
    axes.axvspan(figures.period.start, figures.period.end, color="#f2f4f5", zorder=0)
    axes.legend(fontsize=7, frameon=False, loc="upper left")
    axes.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _style(axes)
    figure.autofmt_xdate()
    return _png(figure)


def segments_chart(figures: ReportFigures) -> str | None:
    rows = sorted(figures.segments, key=lambda row: row["customers"])
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(7.2, 0.25 * len(rows) + 0.6))
    axes.barh([row["segment"] for row in rows], [row["customers"] for row in rows], color=ACCENT)
    _style(axes)
    axes.grid(axis="x", color="#e6e9eb", linewidth=0.8)
    axes.grid(axis="y", visible=False)
    return _png(figure)


def forecast_totals(figures: ReportFigures) -> dict[str, Any]:
    """Actual against forecast over the period's days that have both."""
    inside = [row for row in figures.forecast if figures.period.start <= row["date_day"] <= figures.period.end
              and row["actual"] is not None and row["yhat"] is not None]
    actual = sum((Decimal(str(row["actual"])) for row in inside), Decimal(0))
    predicted = sum((Decimal(str(row["yhat"])) for row in inside), Decimal(0))
    return {"days": len(inside), "actual": actual, "forecast": predicted,
            "error": None if not inside or predicted == 0 else float(actual / predicted) - 1.0}


def html(figures: ReportFigures, generated_at: str) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    environment.filters.update(money=money, cents=cents, count=count, percent=percent, change=change)
    return environment.get_template(TEMPLATE).render(
        f=figures, generated_at=generated_at, kpi_labels=KPI_LABELS, kpi_value=kpi_value, Kpi=Kpi,
        charts={"trend": trend_chart(figures), "forecast": forecast_chart(figures),
                "segments": segments_chart(figures)},
        forecast_totals=forecast_totals(figures),
    )


def pdf(document: str, target: Path) -> None:
    """The HTML as a PDF, through WeasyPrint (Pango renders the text: Debian's libpango, `make setup`)."""
    from weasyprint import HTML  # imported here: loading Pango costs a second the HTML alone does not need

    for name in ("weasyprint", "fontTools"):  # a line per layout step and font subset at INFO: not our progress
        logging.getLogger(name).setLevel(logging.WARNING)
    HTML(string=document, base_url=str(TEMPLATES)).write_pdf(target)
