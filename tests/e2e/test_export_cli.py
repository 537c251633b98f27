"""`comptoir export` as a user runs it, on the session's built sample (its home's published warehouse, read-only):
a mart as CSV, JSON and Parquet equals the warehouse's rows; a date range; refusals of a staging table, of an
unknown table and of personal columns without --include-pii."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.settings import PUBLISHED_DIR, REPO_ROOT, WAREHOUSE_FILE

pytestmark = pytest.mark.slow

TABLE = "marts.mart_daily_sales"


def comptoir(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMPTOIR_HOME": str(home)}
    env.pop("COMPTOIR_SEEDS_DIR", None)
    return subprocess.run([sys.executable, "-m", "orchestration.cli", "export", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def read_back(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, table: str) -> str:
    """The exported file as a relation with the warehouse table's column types."""
    if fmt == "parquet":
        return f"read_parquet('{path}')"
    described = con.execute(f"describe wh.{table}").fetchall()
    columns = "{" + ", ".join(f"'{row[0]}': '{row[1]}'" for row in described) + "}"
    if fmt == "csv":
        return f"read_csv('{path}', header = true, columns = {columns})"
    return f"read_json('{path}', format = 'array', columns = {columns})"


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_of_a_mart_equals_the_warehouse(built_sample: Path, tmp_path: Path, fmt: str) -> None:
    home = built_sample.parent
    completed = comptoir(home, "--table", TABLE, "--format", fmt, "--out", str(tmp_path / "out"))
    assert completed.returncode == 0, completed.stderr
    path = tmp_path / "out" / f"{TABLE}.{fmt}"
    with duckdb.connect() as con:
        con.execute(f"attach '{home / PUBLISHED_DIR / WAREHOUSE_FILE}' as wh (read_only)")
        rows = con.execute(f"select count(*) from wh.{TABLE}").fetchone()[0]
        assert f"Exported {TABLE}: {rows:,} rows to {path}" in completed.stdout
        exported = read_back(con, path, fmt, TABLE)
        assert con.execute(f"select count(*) from {exported}").fetchone()[0] == rows
        for first, second in ((f"wh.{TABLE}", exported), (exported, f"wh.{TABLE}")):
            assert con.execute(f"select count(*) from (from {first} except all from {second})").fetchone() == (0,)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_export_of_a_date_range(built_sample: Path, tmp_path: Path) -> None:
    completed = comptoir(built_sample.parent, "--table", "marts.fct_orders", "--format", "parquet", "--out",
                         str(tmp_path), "--from", "2025-03-01", "--to", "2025-03-31")
    assert completed.returncode == 0, completed.stderr
    assert "(order_date from 2025-03-01 to 2025-03-31)" in completed.stdout
    with duckdb.connect() as con:
        con.execute(f"attach '{built_sample.parent / PUBLISHED_DIR / WAREHOUSE_FILE}' as wh (read_only)")
        march = "from wh.marts.fct_orders where order_date between '2025-03-01' and '2025-03-31'"
        exported = f"read_parquet('{tmp_path / 'marts.fct_orders.parquet'}')"
        assert con.execute(f"select count(*) from {exported}").fetchone() == con.execute(
            f"select count(*) {march}").fetchone()
        assert con.execute(f"select count(*) from ({march} except all from {exported})").fetchone() == (0,)


def test_export_refuses_staging_and_unknown_tables(built_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    staging = comptoir(built_sample.parent, "--table", "staging.stg_shop__orders", "--format", "csv", "--out", str(out))
    assert staging.returncode == 2
    assert ("error: staging.stg_shop__orders is not a business table: only schemas marts and ml can be exported"
            in staging.stderr)
    unknown = comptoir(built_sample.parent, "--table", "marts.mart_nope", "--out", str(out))
    assert unknown.returncode == 2 and "marts.mart_nope does not exist in the published warehouse" in unknown.stderr
    undated = comptoir(built_sample.parent, "--table", "marts.mart_kpis", "--out", str(out), "--from", "2025-01-01")
    assert undated.returncode == 2 and "marts.mart_kpis has no date to filter on" in undated.stderr
    assert not out.exists()
    nothing = comptoir(tmp_path / "empty-home", "--table", TABLE, "--out", str(out))
    assert nothing.returncode == 1 and "no published warehouse" in nothing.stderr


def test_export_leaves_out_personal_columns_unless_asked(built_sample: Path, tmp_path: Path) -> None:
    table = "marts.dim_customers"
    plain = comptoir(built_sample.parent, "--table", table, "--format", "csv", "--out", str(tmp_path / "plain"))
    assert plain.returncode == 0, plain.stderr
    assert "personal columns left out: customer_name, email, has_valid_email (--include-pii keeps them)" in plain.stdout
    full = comptoir(built_sample.parent, "--table", table, "--format", "csv", "--out", str(tmp_path / "full"),
                    "--include-pii")
    assert full.returncode == 0, full.stderr
    with duckdb.connect() as con:
        plain_columns = [row[0] for row in con.execute(
            f"describe from read_csv('{tmp_path / 'plain' / f'{table}.csv'}')").fetchall()]
        full_columns = [row[0] for row in con.execute(
            f"describe from read_csv('{tmp_path / 'full' / f'{table}.csv'}')").fetchall()]
    assert not {"customer_name", "email"} & set(plain_columns)
    assert {"customer_name", "email"} <= set(full_columns)
    assert [c for c in full_columns if c not in ("customer_name", "email", "has_valid_email")] == plain_columns
