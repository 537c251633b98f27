"""A written report as an e-mail: a short text with the headline figures, the HTML report as the body, the PDF
attached."""

from __future__ import annotations

from orchestration.reports import Report
from orchestration.reports.mail import SmtpSettings, send
from orchestration.reports.render import kpi_value


def subject(report: Report) -> str:
    kind = "Weekly" if report.period.kind == "weekly" else "Monthly"
    return f"Comptoir {kind.lower()} report {report.period.label}"


def summary_text(report: Report) -> str:
    lines = [f"{subject(report)} ({report.period.start} to {report.period.end}).", ""]
    lines += [f"{kpi.name.replace('_', ' ')}: {kpi_value(kpi, 'current')}" for kpi in report.figures.kpis]
    lines += ["", "The full report is attached as a PDF."]
    return "\n".join(lines)


def mail_report(report: Report, smtp: SmtpSettings, recipients: list[str]) -> None:
    send(smtp, recipients, subject(report), summary_text(report), html=report.html.read_text(encoding="utf-8"),
         attachments=[(f"comptoir-{report.period.label}.pdf", report.pdf.read_bytes(), "application/pdf")])
