"""Weekly and monthly business reports (HTML and PDF) from the published warehouse, written to
`COMPTOIR_HOME/reports/<period>/` and, when asked, mailed (orchestration/reports/mail.py). Dagster-free: the
Dagster assets (orchestration/defs/reports/) and `comptoir report` both call `write_report`."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from api import queries
from api.warehouse import Snapshot
from orchestration.reports import render
from orchestration.reports.figures import SEGMENTS_FILE, ReportFigures, collect, save_segments
from orchestration.reports.periods import Kind, Period, last_complete
from orchestration.settings import PRIVATE_FILE_MODE, private_dir

log = logging.getLogger(__name__)

REPORTS_GROUP = "reports"  # the Dagster group of the report assets: the build jobs leave it out
HTML_FILE = "report.html"
PDF_FILE = "report.pdf"


class ReportError(RuntimeError):
    """No published warehouse to report on, or a period it cannot report."""


@dataclass(frozen=True)
class Report:
    period: Period
    folder: Path
    figures: ReportFigures
    seconds: float

    @property
    def html(self) -> Path:
        return self.folder / HTML_FILE

    @property
    def pdf(self) -> Path:
        return self.folder / PDF_FILE


def _is_kind(label: str, kind: Kind) -> bool:
    return ("-W" in label) == (kind == "weekly")


def earlier_report(reports_dir: Path, period: Period) -> Path | None:
    """The folder of the latest report of the same kind before `period` that kept its customers' segments."""
    if not reports_dir.is_dir():
        return None
    earlier = sorted(path for path in reports_dir.iterdir()
                     if _is_kind(path.name, period.kind) and path.name < period.label
                     and (path / SEGMENTS_FILE).is_file())
    return earlier[-1] if earlier else None


def default_period(published: Path, kind: Kind) -> Period:
    """The last week or month complete in the published warehouse's data (what the schedules report)."""
    with _connect(published) as con:
        as_of = queries.as_of_date(Snapshot(con.cursor(), None))
    if as_of is None:
        raise ReportError(f"{published} has no as-of date (marts.mart_kpis is empty): nothing to report")
    return last_complete(kind, as_of)


def _connect(published: Path) -> duckdb.DuckDBPyConnection:
    if not published.exists():
        raise ReportError(f"no published warehouse at {published}: run `comptoir build` first")
    return duckdb.connect(str(published), read_only=True)


def write_report(published: Path, reports_dir: Path, period: Period) -> Report:
    """Write the report of `period` into `reports_dir/<label>/` (report.html, report.pdf and the customers'
    segments for the next report's moves), replacing an earlier copy whole: it is made beside and renamed in."""
    started = time.monotonic()
    private_dir(reports_dir)
    folder = reports_dir / period.label
    earlier = earlier_report(reports_dir, period)
    staging = reports_dir / f".{period.label}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
    private_dir(staging)
    try:
        with _connect(published) as con:
            figures = collect(con, period, earlier / SEGMENTS_FILE if earlier else None,
                              earlier.name if earlier else None)
            save_segments(con, staging / SEGMENTS_FILE)
        generated_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        document = render.html(figures, generated_at)
        (staging / HTML_FILE).write_text(document, encoding="utf-8")
        render.pdf(document, staging / PDF_FILE)
        for name in (HTML_FILE, PDF_FILE):
            os.chmod(staging / name, PRIVATE_FILE_MODE)
        old = reports_dir / f".{period.label}.old-{os.getpid()}-{uuid.uuid4().hex}"
        if folder.exists():
            os.rename(folder, old)
        os.rename(staging, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = Report(period, folder, figures, time.monotonic() - started)
    log.info("report %s written to %s in %.1fs", period.label, folder, report.seconds)
    return report


__all__ = ["REPORTS_GROUP", "Report", "ReportError", "default_period", "write_report"]
