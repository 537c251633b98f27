"""The Dagster code location: `dagster dev -m orchestration.definitions`."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import Settings

BUILD_JOB_NAME = "build_all"


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        assets=[*raw_assets],
        jobs=[define_asset_job(
                BUILD_JOB_NAME, selection=AssetSelection.all(), description="Load and build everything."
            )],
        resources={
            "warehouse": WarehouseResource(
                seeds_dir=str(settings.seeds_dir), database=str(settings.warehouse_path)
            )
        },
        # DuckDB allows one writer per file: steps run one after another in one process.
        executor=in_process_executor,
    )


defs = build_definitions(Settings.from_env())
