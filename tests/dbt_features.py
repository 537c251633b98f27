"""The dbt feature models (dbt_project/models/features/) run on small hand-written tables in a DuckDB connection.

Real dbt compiles the models once per test session, against an in-memory DuckDB (their refs then read
``"memory".<schema>.<table>``, the catalog of ``duckdb.connect()``), and DuckDB runs the compiled SQL, so unit
tests of ml/ feed exact inputs through the very SQL the pipeline builds. The tables the models read are the
test's own (``marts.*``, ``intermediate.*`` with the columns the models use); the as-of date is given.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

import duckdb

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable


@functools.cache
def compiled_features() -> dict[str, str]:
    """Model name -> compiled SQL of every feature model."""
    target = Path(tempfile.mkdtemp(prefix="comptoir-features-"))
    atexit.register(shutil.rmtree, target, ignore_errors=True)
    env = {**os.environ, "COMPTOIR_DUCKDB_PATH": ":memory:", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(
        [str(dbt_executable()), "compile", "--select", "resource_type:model,path:models/features",
         "--profiles-dir", ".", "--target-path", str(target), "--log-path", str(target)],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    folder = target / "compiled" / "comptoir" / "models" / "features"
    return {path.stem: path.read_text() for path in folder.glob("*.sql")}


def build_features(con: duckdb.DuckDBPyConnection, *models: str, as_of: date | None = None) -> None:
    """Create ``features.<model>`` for each of ``models`` in order (a model reading another comes after it);
    ``as_of``: write ``features.feat_as_of_date`` by hand first (its dbt model reads the staging layer)."""
    sql = compiled_features()
    con.execute("create schema if not exists features")
    if as_of is not None:
        con.execute(
            "create or replace table features.feat_as_of_date as "
            "select cast($as_of as date) as as_of_date, cast($as_of as date) as last_order_date",
            {"as_of": as_of},
        )
    for model in models:
        con.execute(f"create or replace table features.{model} as {sql[model]}")
