"""When the reports are written: the weekly one on Mondays at 07:00 (the week that ended the day before), the
monthly one on the 1st at 07:00, each after the daily 06:00 refresh has published the last day."""

from __future__ import annotations

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.defs.reports.assets import report_key
from orchestration.reports.periods import KINDS, Kind
from orchestration.settings import SCHEDULE_TIMEZONE

REPORT_CRONS: dict[Kind, str] = {"weekly": "0 7 * * 1", "monthly": "0 7 1 * *"}


def report_job(kind: Kind) -> UnresolvedAssetJobDefinition:
    return define_asset_job(f"report_{kind}", selection=AssetSelection.assets(report_key(kind)),
                            description=f"Write (and mail, when SMTP is set) the {kind} business report.")


def build_report_schedules() -> tuple[list[UnresolvedAssetJobDefinition], list[ScheduleDefinition]]:
    jobs = {kind: report_job(kind) for kind in KINDS}
    schedules = [
        ScheduleDefinition(name=f"report_{kind}", job=jobs[kind], cron_schedule=REPORT_CRONS[kind],
                           execution_timezone=SCHEDULE_TIMEZONE,
                           # Off until turned on in the UI, like the build schedules (a checkout mails nobody).
                           default_status=DefaultScheduleStatus.STOPPED)
        for kind in KINDS
    ]
    return list(jobs.values()), schedules
