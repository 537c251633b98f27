"""Refresh the warehouse every morning, whether or not the sensor saw new files."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, ScheduleDefinition

from orchestration.settings import SCHEDULE_TIMEZONE

DAILY_SCHEDULE_NAME = "warehouse_daily"
DAILY_CRON = "0 6 * * *"  # 06:00 every day


def build_daily_schedule(job_name: str) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=DAILY_SCHEDULE_NAME,
        job_name=job_name,
        cron_schedule=DAILY_CRON,
        execution_timezone=SCHEDULE_TIMEZONE,
        # Off until someone turns it on in the UI: a laptop checkout should not build by itself.
        default_status=DefaultScheduleStatus.STOPPED,
        description="Load the landing folder, rebuild every dbt model and refresh the ML scores at 06:00 UTC.",
    )
