"""The Dagster code location: `dagster dev -m orchestration.definitions`."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from orchestration.dbt.args import FULL_REFRESH_TAG
from orchestration.defs.alerts.assets import build_alerts_asset
from orchestration.defs.alerts.sensors import build_failed_build_sensor
from orchestration.defs.dbt.assets import dbt_models, load_rejects
from orchestration.defs.dbt.resources import dbt_resource
from orchestration.defs.dbt.schedules import build_daily_schedule
from orchestration.defs.dbt.sensors import build_landing_sensor
from orchestration.defs.ml import ALL_ML_ASSETS, ALL_ML_CHECKS
from orchestration.defs.ml.schedules import (
    REFIT_JOB_NAME,
    REFRESH_JOB_NAME,
    build_weekly_refit_schedule,
    refit_job,
    refresh_job,
)
from orchestration.defs.publish.assets import PIPELINE_RECORD, build_lake_asset, build_publish_asset
from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.reports.assets import build_report_assets
from orchestration.defs.reports.schedules import build_report_schedules
from orchestration.defs.resources import WarehouseResource
from orchestration.reports import REPORTS_GROUP
from orchestration.settings import Settings, make_private

WAREHOUSE_JOB_NAME = "warehouse"
WAREHOUSE_FULL_REFRESH_JOB_NAME = "warehouse_full_refresh"


def build_definitions(settings: Settings) -> Definitions:
    warehouse_job = define_asset_job(
        WAREHOUSE_JOB_NAME,
        selection=AssetSelection.all() - AssetSelection.groups(REPORTS_GROUP),
        description=(
            "Load every landing file into schema raw, `dbt build` every model and test (incremental models "
            "take the new rows only), train and score the ML models into schema ml, then publish a copy for "
            "the dashboards and write its business tables as Parquet (the lake)."
        ),
    )
    # The same run with every dbt model rebuilt from the whole raw layer: one click in the UI.
    full_refresh_job = define_asset_job(
        WAREHOUSE_FULL_REFRESH_JOB_NAME,
        selection=AssetSelection.all() - AssetSelection.groups(REPORTS_GROUP),
        tags={FULL_REFRESH_TAG: "true"},
        description=(
            "The warehouse job as a full refresh: reload every landing file and rebuild every dbt model "
            "from scratch (`dbt build --full-refresh`) instead of the incremental path."
        ),
    )
    # The alert rules read the finished marts and ML tables; the publish waits for them (it carries pipeline.alerts).
    assets = [*raw_assets, load_rejects, dbt_models, *ALL_ML_ASSETS]
    assets.append(build_alerts_asset(assets))
    report_jobs, report_schedules = build_report_schedules()
    build_jobs = [WAREHOUSE_JOB_NAME, WAREHOUSE_FULL_REFRESH_JOB_NAME, REFRESH_JOB_NAME, REFIT_JOB_NAME]
    return Definitions(
        # Last of all, and only when every step before it succeeded: the copy the dashboards read; then the lake,
        # from that copy (every job that publishes selects it: it is downstream of the publish).
        assets=[*assets, build_publish_asset(assets, settings.published_path),
                build_lake_asset(settings.published_path, settings.lake_path), *PIPELINE_RECORD,
                # Read the published copy, on their own schedules: no build job selects them.
                *build_report_assets(settings.published_path, settings.reports_path)],
        asset_checks=ALL_ML_CHECKS,
        jobs=[warehouse_job, full_refresh_job, refresh_job, refit_job, *report_jobs],
        # Daily: fresh data scored with the saved models; weekly: the models re-fitted; the business reports.
        schedules=[build_daily_schedule(REFRESH_JOB_NAME), build_weekly_refit_schedule(), *report_schedules],
        sensors=[build_landing_sensor(settings.seeds_dir, WAREHOUSE_JOB_NAME),
                 build_failed_build_sensor(settings.warehouse_path, build_jobs)],
        resources={
            "warehouse": WarehouseResource(
                seeds_dir=str(settings.seeds_dir),
                database=str(settings.warehouse_path),
                models_dir=str(settings.models_dir),
            ),
            "dbt": dbt_resource(settings.home / "bin"),
        },
        # DuckDB allows one writer per file: steps run one after another in one process.
        executor=in_process_executor,
    )


# Dagster processes that `comptoir` did not start (docker-compose.yml's webserver and daemon, a hand-run `dagster
# dev`) load this module before any run: what their runs write is owner only too, as under `comptoir build`.
make_private()
defs = build_definitions(Settings.from_env())
