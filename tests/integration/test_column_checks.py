"""The combined tests fail on every kind of broken row or total and say which check broke.

Real dbt on a private copy of the project with one probe model. `column_checks`: a null, a value outside
its list, values out of range (inclusive and exclusive bounds), a false expression; nulls pass the value
and range checks. `equal_aggregates`: one comparison holds, two differ (one only under its `where`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable

pytestmark = pytest.mark.slow

PROBE_SQL = """
select * from (values
    (1, 'a', 'completed', 5, 0.5, 10, 10),
    (2, null, 'shipped', 0, 1.0, 3, 4),
    (3, 'c', null, 11, null, null, 7),
    (4, 'd', 'cancelled', null, 0.0, 2, 2)
) as probe (id, code, status, score, share, left_side, right_side)
"""

PROBE_YML = """
version: 2
models:
  - name: checks_probe
    description: "Probe rows for the column_checks test."
    data_tests:
      - column_checks:
          name: checks_probe__column_checks
          arguments:
            not_null: [id, code]
            accepted_values:
              status: [completed, cancelled]
            accepted_range:
              score: {min_value: 1, max_value: 10}
              share: {min_value: 0, inclusive: false}
            expressions:
              - "left_side = right_side"
      - column_checks:
          name: checks_probe__column_checks_clean
          arguments:
            not_null: [id]
            accepted_values:
              status: {values: ["'completed'", "'cancelled'", "'shipped'"], quote: false}
            accepted_range:
              score: {min_value: 0, max_value: 11}
      - equal_aggregates:
          name: checks_probe__equal_aggregates
          arguments:
            comparisons:
              - {expression: "count(*)", compare_model: ref('checks_probe'), compare_expression: "4"}
              - {expression: "sum(left_side)", compare_model: ref('checks_probe'),
                 compare_expression: "sum(right_side)"}
              - {expression: "count(*)", where: "id > 2", compare_model: ref('checks_probe'),
                 compare_expression: "count(*)"}
"""


def test_column_checks_report_each_broken_check(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "checks_probe.sql").write_text(PROBE_SQL)
    (project / "models" / "checks_probe.yml").write_text(PROBE_YML)
    database = tmp_path / "probe.duckdb"
    env = {**os.environ, "COMPTOIR_DUCKDB_PATH": str(database), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    completed = subprocess.run(
        [str(dbt_executable()), "build", "--select", "checks_probe", "--store-failures", "--profiles-dir", ".",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "target")],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert completed.returncode == 1, completed.stdout[-3000:]
    results = {r["unique_id"].split(".")[2]: r
               for r in json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]}
    assert results["checks_probe__column_checks_clean"]["status"] == "pass"
    aggregates = results["checks_probe__equal_aggregates"]
    assert (aggregates["status"], aggregates["failures"]) == ("fail", 2)
    failed = results["checks_probe__column_checks"]
    # code null (row 2), status 'shipped' (row 2), score 0 and 11 (rows 2, 3), share 0.0 not > 0 (row 4),
    # left_side <> right_side (row 2) and null = 7 (row 3, an unknown result fails).
    assert (failed["status"], failed["failures"]) == ("fail", 1 + 1 + 2 + 1 + 2)
    with duckdb.connect(str(database), read_only=True) as con:
        (schema, table), = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name = 'checks_probe__column_checks'").fetchall()
        rows = con.execute(f"select column_name, check_name, failing_rows, example_value from {schema}.{table} "
                           "order by check_name").fetchall()
        differing = con.execute(f"select expression, model_value, compare_value "
                                f"from {schema}.checks_probe__equal_aggregates order by expression").fetchall()
    assert rows == [
        ("share", "accepted_range: min 0 (exclusive)", 1, "0.0"),
        ("score", "accepted_range: min 1 max 10", 2, "0"),
        ("status", "accepted_values: completed, cancelled", 1, "shipped"),
        (None, "expression: left_side = right_side", 2, None),
        ("code", "not_null", 1, None),
    ]
    assert differing == [("count(*)", "2", "4"), ("sum(left_side)", "15", "23")]
