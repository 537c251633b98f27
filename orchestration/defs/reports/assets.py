"""The business reports as Dagster assets: `reports/weekly` and `reports/monthly`, read from the published warehouse
(downstream of `published/warehouse`), each written by its own job on its schedule (schedules.py), never by a build.

A run reports the last week or month complete in the published data; the run tag `comptoir/report_period`
(2025-W48, 2025-11) asks for another. When COMPTOIR_SMTP_HOST and COMPTOIR_REPORT_TO are set the PDF is mailed."""

from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from orchestration.defs.publish.assets import PUBLISHED_KEY
from orchestration.reports import REPORTS_GROUP, default_period, write_report
from orchestration.reports.mail import SmtpSettings, recipients_from_env
from orchestration.reports.periods import KINDS, Kind, parse
from orchestration.reports.sending import mail_report

PERIOD_TAG = "comptoir/report_period"


def report_key(kind: Kind) -> AssetKey:
    return AssetKey(["reports", kind])


def _build_report_asset(kind: Kind, published_path: Path, reports_path: Path) -> AssetsDefinition:
    @asset(
        key=report_key(kind),
        deps=[PUBLISHED_KEY],
        group_name=REPORTS_GROUP,
        description=(
            f"The {kind} business report (HTML and PDF) of the last complete {'week' if kind == 'weekly' else 'month'}"
            " in the published warehouse, under COMPTOIR_HOME/reports/<period>/; mailed when SMTP is set."
        ),
    )
    def report(context: AssetExecutionContext) -> MaterializeResult:
        asked = context.run.tags.get(PERIOD_TAG)
        period = parse(asked) if asked else default_period(published_path, kind)
        if period.kind != kind:
            raise ValueError(f"{PERIOD_TAG}={asked!r} is a {period.kind} period, not a {kind} one")
        written = write_report(published_path, reports_path, period)
        smtp, recipients = SmtpSettings.from_env(), recipients_from_env()
        mailed = bool(smtp and recipients)
        if smtp and recipients:
            mail_report(written, smtp, recipients)
        else:
            context.log.info("not mailed: set COMPTOIR_SMTP_HOST and COMPTOIR_REPORT_TO to mail the report")
        return MaterializeResult(metadata={
            "period": period.label,
            "pdf": MetadataValue.path(str(written.pdf)),
            "html": MetadataValue.path(str(written.html)),
            "mailed_to": ", ".join(recipients) if mailed else "",
            "seconds": round(written.seconds, 2),
        })

    return report


def build_report_assets(published_path: Path, reports_path: Path) -> list[AssetsDefinition]:
    return [_build_report_asset(kind, published_path, reports_path) for kind in KINDS]
