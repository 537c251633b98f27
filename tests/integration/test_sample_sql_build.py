"""The committed sample through the raw load and `dbt build` as Dagster runs them, without ML: every model, every
data test and every dbt unit test passes. The SQL half of `make test-fast` (the whole build is in `make test`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from orchestration.dbt.runs import RUN_RESULTS_FILE, run_artifacts_dir
from orchestration.defs.dbt.assets import dbt_models, load_rejects
from orchestration.defs.dbt.resources import dbt_resource
from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.resources import WarehouseResource

pytestmark = pytest.mark.slow


def test_the_sample_loads_and_every_dbt_model_and_test_passes(tmp_path: Path, sample_dir: Path) -> None:
    database = tmp_path / "home" / "comptoir.duckdb"
    resources = {"warehouse": WarehouseResource(seeds_dir=str(sample_dir), database=str(database)),
                 "dbt": dbt_resource()}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([*raw_assets, load_rejects, dbt_models], instance=instance, resources=resources,
                             raise_on_error=False)
    run_results = json.loads((run_artifacts_dir(database, result.run_id) / RUN_RESULTS_FILE).read_text())
    by_kind: dict[str, list[str]] = {}
    for node in run_results["results"]:
        by_kind.setdefault(node["status"], []).append(node["unique_id"])
    assert result.success and set(by_kind) <= {"success", "pass", "no-op"}, {
        status: ids[:10] for status, ids in by_kind.items() if status not in {"success", "pass", "no-op"}}
    kinds = {node["unique_id"].split(".")[0] for node in run_results["results"]}
    assert {"model", "test", "unit_test"} <= kinds  # a first build in a new home runs the dbt unit tests too
