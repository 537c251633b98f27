"""The weekly and monthly business reports of the built sample (orchestration/reports/): the PDF's text holds the
KPI figures of the marts for its period, the next report shows the RFM moves, and the report reaches a mailbox
(a local SMTP server, aiosmtpd) from `comptoir report --email` and from the Dagster asset its schedule runs.

COMPTOIR_SCREENSHOTS=1 also writes page 1 of the monthly report to docs/screenshots/ (committed, for the README)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pdfplumber
import pytest

from orchestration.reports import write_report
from orchestration.reports.periods import parse
from orchestration.settings import REPO_ROOT
from tests.alert_receivers import Mailbox, smtp_server

pytestmark = pytest.mark.slow

MONTH, WEEK, NEXT_WEEK = "2025-11", "2025-W47", "2025-W48"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, dict[str, str]]]:
    with smtp_server() as server:
        yield server


def pdf_text(path: Path) -> str:
    with pdfplumber.open(path) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def kpi_line(text: str, label: str) -> list[str]:
    """The figures on the KPI table's row `label` (current, previous, change, last year, change)."""
    line = next(line for line in text.splitlines() if line.startswith(label + " "))
    return line[len(label):].split()


@pytest.fixture(scope="module")
def reports(built_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    published = built_sample.parent / "published" / "comptoir.duckdb"
    for label in (MONTH, WEEK, NEXT_WEEK):
        write_report(published, folder, parse(label))
    return folder


def test_the_monthly_pdf_holds_the_marts_figures_of_its_month(reports: Path, built_sample: Path) -> None:
    text = pdf_text(reports / MONTH / "report.pdf")
    with duckdb.connect(str(built_sample), read_only=True) as con:
        rows = con.execute("""
            select month_start, revenue, orders, customers, average_order_value, margin_pct
            from marts.mart_monthly_sales where month_start in (date '2025-11-01', date '2025-10-01', date '2024-11-01')
            order by month_start desc
        """).fetchall()
        (conversion,) = con.execute("select cast(sum(converted_sessions) as double) / sum(sessions) "
                                    "from marts.mart_kpis_monthly where month_start = date '2025-11-01'").fetchone()
    (_, revenue, orders, customers, aov, margin), previous, last_year = rows
    assert kpi_line(text, "Revenue")[0] == f"{revenue:,.0f}"
    assert kpi_line(text, "Orders")[0] == f"{orders:,}"
    assert kpi_line(text, "Customers")[0] == f"{customers:,}"
    assert kpi_line(text, "Average order value")[0] == f"{aov:,.2f}"
    assert kpi_line(text, "Margin %")[:2] == [f"{float(margin) * 100:.1f}", "%"]
    assert kpi_line(text, "Conversion rate")[:2] == [f"{conversion * 100:.1f}", "%"]
    # the previous month and the same month last year, with the change
    figures = kpi_line(text, "Revenue")
    assert figures[1] == f"{previous[1]:,.0f}" and figures[4] == f"{last_year[1]:,.0f}"
    assert figures[2] == f"{(float(revenue) / float(previous[1]) - 1) * 100:+.1f}"
    for heading in ("Revenue trend", "Top products", "Top customers", "RFM segments", "Cohort retention",
                    "Forecast against actuals", "Stock-outs ahead", "Data quality"):
        assert heading in text, heading


def test_the_weekly_pdf_holds_the_week_of_the_marts(reports: Path, built_sample: Path) -> None:
    week = parse(WEEK)
    text = pdf_text(reports / WEEK / "report.pdf")
    with duckdb.connect(str(built_sample), read_only=True) as con:
        revenue, orders = con.execute("""
            select sum(revenue), count(*) from marts.fct_orders where is_sale and order_date between ? and ?
        """, [week.start, week.end]).fetchone()
        top = con.execute("""
            select product_name from marts.mart_serving_product_sales_daily where order_date between ? and ?
            group by product_id, product_name order by sum(revenue) desc, product_id limit 1
        """, [week.start, week.end]).fetchone()[0]
    assert kpi_line(text, "Revenue")[0] == f"{Decimal(revenue):,.0f}"
    assert kpi_line(text, "Orders")[0] == f"{orders:,}"
    assert "Conversion rate" not in text and "a weekly report leaves it out" in text
    assert f"1 {top}" in text  # the week's best-selling product first


def test_the_next_report_shows_the_segment_moves_and_no_personal_column(reports: Path, built_sample: Path) -> None:
    first, second = pdf_text(reports / WEEK / "report.pdf"), pdf_text(reports / NEXT_WEEK / "report.pdf")
    assert "from the next report on" in first
    assert f"Moves since the report {WEEK}" in second
    with duckdb.connect(str(built_sample), read_only=True) as con:
        names, mails = zip(*con.execute("select customer_name, email from marts.dim_customers").fetchall(), strict=True)
    html = (reports / NEXT_WEEK / "report.html").read_text(encoding="utf-8")
    assert not any(mail and mail in html for mail in mails) and not any(name and name in html for name in names)


def test_comptoir_report_mails_the_pdf(built_sample: Path, tmp_path: Path,
                                       mailbox: tuple[Mailbox, dict[str, str]]) -> None:
    box, smtp = mailbox
    home = tmp_path / "home"
    (home / "published").mkdir(parents=True)
    shutil.copyfile(built_sample.parent / "published" / "comptoir.duckdb", home / "published" / "comptoir.duckdb")
    env = {**os.environ, "COMPTOIR_HOME": str(home), **smtp}
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "report", "--last", "month", "--email", "owner@shop.test"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Report 2025-12 (2025-12-01 to 2025-12-31)" in completed.stdout  # the sample's data ends 2025-12-31
    ((recipients, message),) = box.messages
    assert recipients == ["owner@shop.test"] and message["Subject"] == "Comptoir monthly report 2025-12"
    (attachment,) = [part for part in message.walk() if part.get_filename()]
    assert attachment.get_filename() == "comptoir-2025-12.pdf"
    payload = attachment.get_payload(decode=True)
    assert payload == (home / "reports" / "2025-12" / "report.pdf").read_bytes() and payload.startswith(b"%PDF")


def test_a_report_period_that_is_not_one_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "COMPTOIR_HOME": str(tmp_path / "home")}
    completed = subprocess.run([sys.executable, "-m", "orchestration.cli", "report", "--period", "2025-W60"],
                               cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2 and "has no ISO week 60" in completed.stderr


def test_the_scheduled_asset_writes_and_mails_the_weekly_report(
    built_sample: Path, tmp_path: Path, mailbox: tuple[Mailbox, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, materialize

    from orchestration.defs.reports.assets import PERIOD_TAG, build_report_assets

    box, smtp = mailbox
    for name, value in {**smtp, "COMPTOIR_REPORT_TO": "a@shop.test, b@shop.test"}.items():
        monkeypatch.setenv(name, value)
    published = built_sample.parent / "published" / "comptoir.duckdb"
    weekly, _ = build_report_assets(published, tmp_path / "reports")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([weekly], instance=instance, tags={PERIOD_TAG: NEXT_WEEK})
    assert result.success
    ((recipients, message),) = box.messages
    assert recipients == ["a@shop.test", "b@shop.test"] and message["Subject"] == f"Comptoir weekly report {NEXT_WEEK}"
    assert (tmp_path / "reports" / NEXT_WEEK / "report.pdf").is_file()
    metadata = result.asset_materializations_for_node("reports__weekly")[0].metadata
    assert metadata["period"].value == NEXT_WEEK and metadata["mailed_to"].value == "a@shop.test, b@shop.test"


def test_page_one_screenshot(reports: Path) -> None:
    """Page 1 of the monthly report as a PNG: written to docs/screenshots/ only when COMPTOIR_SCREENSHOTS is set."""
    with pdfplumber.open(reports / MONTH / "report.pdf") as pdf:
        image = pdf.pages[0].to_image(resolution=110)
        target = (REPO_ROOT / "docs" / "screenshots" if os.environ.get("COMPTOIR_SCREENSHOTS")
                  else reports) / "report-monthly-page1.png"
        image.save(str(target))
    assert target.read_bytes().startswith(b"\x89PNG")
