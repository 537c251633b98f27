"""When the ML assets run: models are re-fitted weekly, scores refreshed daily with the latest model.

`comptoir build` and the landing-folder sensor run the whole `warehouse` job (everything, re-fits included).
The daily schedule runs `warehouse_refresh` (everything but the re-fits: it scores with the saved models); the
weekly schedule runs `ml_weekly_refit` (the re-fits and what reads them).
"""

from __future__ import annotations

from dagster import AssetKey, AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

from orchestration.defs.ml.assets import MODEL_RUNS_KEY, SEGMENT_MODEL_KEY
from orchestration.defs.ml.clv import CUSTOMER_CLV_KEY
from orchestration.defs.ml.forecasting import ACCURACY_KEY, FORECAST_KEY
from orchestration.reports import REPORTS_GROUP
from orchestration.settings import SCHEDULE_TIMEZONE

REFRESH_JOB_NAME = "warehouse_refresh"
REFIT_JOB_NAME = "ml_weekly_refit"
WEEKLY_SCHEDULE_NAME = "ml_weekly_refit"
WEEKLY_CRON = "0 5 * * 1"  # Mondays 05:00 UTC, before the daily 06:00 refresh

# Assets that fit a model (slow, and stable from one day to the next). The stock-out forecast is not one:
# it runs daily on the current stock with the latest sales forecast; nor are the segments (assigned daily with
# the saved segment model) and the order anomalies (their forest is refitted on a bounded sample every run).
# The sales forecast depends on its backtest (the backtest chooses the model per series), so the weekly job runs
# ml/forecast_accuracy, then ml/forecast_daily_sales with that choice, then the stock-out forecast; the daily
# refresh fits neither and keeps the last published forecast and choice.
WEEKLY_REFIT_KEYS: list[AssetKey] = [MODEL_RUNS_KEY, SEGMENT_MODEL_KEY, CUSTOMER_CLV_KEY, FORECAST_KEY, ACCURACY_KEY]


refresh_job = define_asset_job(
    REFRESH_JOB_NAME,
    selection=AssetSelection.all() - AssetSelection.assets(*WEEKLY_REFIT_KEYS) - AssetSelection.groups(REPORTS_GROUP),
    description="Load the landing folder, `dbt build`, and score with the saved models (no re-fit).",
)

refit_job = define_asset_job(
    REFIT_JOB_NAME,
    selection=AssetSelection.assets(*WEEKLY_REFIT_KEYS).downstream() - AssetSelection.groups(REPORTS_GROUP),
    description="Re-fit the ML models on the current warehouse and refresh everything that reads them.",
)


def build_weekly_refit_schedule() -> ScheduleDefinition:
    return ScheduleDefinition(
        name=WEEKLY_SCHEDULE_NAME,
        job_name=REFIT_JOB_NAME,
        cron_schedule=WEEKLY_CRON,
        execution_timezone=SCHEDULE_TIMEZONE,
        # Off until switched on in the UI, like the daily schedule.
        default_status=DefaultScheduleStatus.STOPPED,
        description="Re-fit the propensity and segment models, forecasts and CLV every Monday at 05:00 UTC.",
    )
