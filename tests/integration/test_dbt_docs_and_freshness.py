"""dbt's own commands a user runs on the built warehouse: docs generate and source freshness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable

pytestmark = pytest.mark.slow


def _dbt(args: list[str], warehouse: Path, target: Path) -> subprocess.CompletedProcess[str]:
    # A copy of the warehouse: dbt opens it read-write, and other tests read the original.
    env = {
        **os.environ,
        "COMPTOIR_DUCKDB_PATH": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [str(dbt_executable()), *args, "--profiles-dir", ".", "--target-path", str(target),
         "--log-path", str(target / "logs")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def warehouse_copy(built_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("dbt-commands") / "comptoir.duckdb"
    shutil.copyfile(built_sample, copy)
    return copy


def test_docs_generate_documents_every_model_and_column(warehouse_copy: Path, tmp_path: Path) -> None:
    completed = _dbt(["docs", "generate"], warehouse_copy, tmp_path)
    assert completed.returncode == 0, completed.stdout[-3000:]
    catalog = json.loads((tmp_path / "catalog.json").read_text())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    models = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    undocumented = [m["name"] for m in models.values() if not m["description"].strip()]
    assert not undocumented, f"models without a description: {undocumented}"
    missing_columns = []
    for unique_id, model in models.items():
        if model["config"]["materialized"] == "ephemeral":
            continue
        built = catalog["nodes"][unique_id]["columns"]
        documented = {name.lower() for name, col in model["columns"].items() if col["description"].strip()}
        missing_columns += [f"{model['name']}.{c}" for c in built if c.lower() not in documented]
    assert not missing_columns, f"columns without a description: {missing_columns}"


def test_source_freshness_reports_the_age_of_the_newest_order(warehouse_copy: Path, tmp_path: Path) -> None:
    completed = _dbt(["source", "freshness"], warehouse_copy, tmp_path)
    # The sample ends on 2025-12-31: its orders are more than two days old, so freshness warns.
    assert completed.returncode == 0, completed.stdout[-3000:]
    results = json.loads((tmp_path / "sources.json").read_text())["results"]
    orders = next(r for r in results if r["unique_id"] == "source.comptoir.shop.orders")
    assert orders["status"] == "warn"
    assert orders["max_loaded_at"].startswith("2025-12-31")
