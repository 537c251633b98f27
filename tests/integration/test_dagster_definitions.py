"""The Dagster code location loads, and its raw assets materialize with their metadata."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, materialize

from orchestration.contract import SOURCES
from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.resources import WarehouseResource


def test_definitions_load_with_one_raw_asset_per_source() -> None:
    from orchestration.definitions import WAREHOUSE_JOB_NAME, defs

    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert {AssetKey(["raw", s.name]) for s in SOURCES} <= keys
    assert defs.resolve_job_def(WAREHOUSE_JOB_NAME) is not None


def test_dagster_cli_validates_the_code_location(repo_root: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=repo_root, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_raw_assets_materialize_with_row_counts_and_checksums(tmp_path: Path, sample_dir: Path) -> None:
    database = tmp_path / "warehouse.duckdb"
    result = materialize(
        raw_assets,
        resources={"warehouse": WarehouseResource(seeds_dir=str(sample_dir), database=str(database))},
    )
    assert result.success
    for source in SOURCES:
        metadata = {
            k: getattr(v, "value", v)
            for k, v in result.asset_materializations_for_node(f"raw__{source.name}")[0].metadata.items()
        }
        path = sample_dir / source.file_name
        assert metadata["rows_loaded"] + metadata["rows_rejected"] == metadata["rows_in_file"]
        assert metadata["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_forecast_reads_its_backtest_and_both_are_refitted_weekly() -> None:
    """The backtest chooses each series' model, so it runs first; the daily refresh fits neither."""
    from orchestration.definitions import defs
    from orchestration.defs.ml.forecasting import ACCURACY_KEY, FORECAST_KEY, STOCKOUT_KEY
    from orchestration.defs.ml.schedules import REFIT_JOB_NAME, REFRESH_JOB_NAME

    graph = defs.resolve_asset_graph()
    assert ACCURACY_KEY in graph.get(FORECAST_KEY).parent_keys
    assert FORECAST_KEY not in graph.get(ACCURACY_KEY).parent_keys
    assert FORECAST_KEY in graph.get(STOCKOUT_KEY).parent_keys
    weekly = defs.resolve_job_def(REFIT_JOB_NAME).asset_layer.selected_asset_keys
    daily = defs.resolve_job_def(REFRESH_JOB_NAME).asset_layer.selected_asset_keys
    assert {ACCURACY_KEY, FORECAST_KEY, STOCKOUT_KEY} <= weekly
    assert STOCKOUT_KEY in daily and not {ACCURACY_KEY, FORECAST_KEY} & daily


def test_every_job_that_publishes_writes_the_lake_after_the_publish() -> None:
    """The lake is exported from the published copy, so it runs after the publish, in every job that publishes."""
    from orchestration.definitions import WAREHOUSE_FULL_REFRESH_JOB_NAME, WAREHOUSE_JOB_NAME, defs
    from orchestration.defs.ml.schedules import REFIT_JOB_NAME, REFRESH_JOB_NAME
    from orchestration.defs.publish.assets import LAKE_KEY, PUBLISHED_KEY

    assert defs.resolve_asset_graph().get(LAKE_KEY).parent_keys == {PUBLISHED_KEY}
    for name in (WAREHOUSE_JOB_NAME, WAREHOUSE_FULL_REFRESH_JOB_NAME, REFRESH_JOB_NAME, REFIT_JOB_NAME):
        selected = defs.resolve_job_def(name).asset_layer.selected_asset_keys
        assert {PUBLISHED_KEY, LAKE_KEY} <= selected, name
