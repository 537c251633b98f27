"""`comptoir report`: the weekly or monthly business report of one period (orchestration/reports/)."""

from __future__ import annotations

import argparse
import sys

import duckdb

from orchestration.cli import summaries
from orchestration.reports import ReportError, default_period, write_report
from orchestration.reports.mail import MailError, SmtpSettings, recipients_from_env
from orchestration.reports.periods import PeriodError, parse
from orchestration.reports.sending import mail_report
from orchestration.settings import Settings


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        period = parse(args.period) if args.period else default_period(
            settings.published_path, "weekly" if args.last == "week" else "monthly")
    except PeriodError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ReportError, duckdb.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        report = write_report(settings.published_path, settings.reports_path, period)
    except (ReportError, OSError, duckdb.Error) as error:
        print(f"error: {error}; no report written", file=sys.stderr)
        return 1
    summaries.reported(report)
    if args.email is None:
        return 0
    recipients = args.email or recipients_from_env()
    try:
        smtp = SmtpSettings.from_env()
        if smtp is None:
            raise MailError("COMPTOIR_SMTP_HOST is not set: the report was written but not mailed")
        mail_report(report, smtp, recipients)
    except MailError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Mailed to {', '.join(recipients)}")
    return 0
