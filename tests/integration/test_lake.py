"""The Parquet lake of the built sample (orchestration/lake.py): every table read back with DuckDB and with pandas
equals the published warehouse's, row for row; the partitions cover exactly the dated rows; a failed export
leaves the previous lake whole; the same published file gives the same files, and the session's build wrote them.
Layout details, NULL dates and the export's refusals on a hand-made warehouse: tests/unit/test_lake.py."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration import lake as lake_module
from orchestration.lake import NULL_PARTITION, BusinessTable, LakeExport, business_tables, export_lake
from orchestration.settings import LAKE_DIR, PUBLISHED_DIR, WAREHOUSE_FILE
from tests.conftest import BUILD_OUTPUT

pytestmark = pytest.mark.slow

PARQUET_TYPES = {"HUGEINT": "DECIMAL(38,0)"}  # Parquet has no 128-bit integer: exact decimals instead


@dataclass(frozen=True)
class SampleLake:
    published: Path
    lake: Path
    export: LakeExport
    tables: list[BusinessTable]


def digest(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def sample_lake(built_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    home = tmp_path_factory.mktemp("lake-home")
    published = home / PUBLISHED_DIR / WAREHOUSE_FILE
    published.parent.mkdir()
    shutil.copyfile(built_sample.parent / PUBLISHED_DIR / WAREHOUSE_FILE, published)
    export = export_lake(published, home / LAKE_DIR)
    with duckdb.connect(str(published), read_only=True) as con:
        tables = business_tables(con)
    return SampleLake(published, home / LAKE_DIR, export, tables)


@pytest.fixture
def con(sample_lake: SampleLake) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as connection:
        connection.execute(f"attach '{sample_lake.published}' as wh (read_only)")
        yield connection


def files(lake: Path, table: BusinessTable) -> str:
    return f"'{lake / table.schema / table.name}/**/*.parquet'"


def kept_columns(table: BusinessTable) -> list[tuple[str, str]]:
    return [(c.name, PARQUET_TYPES.get(c.type, c.type)) for c in table.columns if c.name not in table.personal_columns]


def test_every_business_table_is_in_the_lake(sample_lake: SampleLake) -> None:
    names = {table.qualified for table in sample_lake.tables}
    assert {"marts.fct_order_lines", "marts.dim_customers", "marts.mart_daily_sales", "ml.customer_scores",
            "ml.forecast_daily_sales"} <= names and len(names) >= 30
    written = {f"{p.parent.name}.{p.name}" for p in sample_lake.lake.glob("*/*")}
    assert written == names  # marts and ml only: no raw, staging, intermediate, features or pipeline
    exported = {f"{t.schema}.{t.name}": t for t in sample_lake.export.tables}
    partitioned = {name for name, t in exported.items() if t.partition_column}
    assert {"marts.fct_order_lines", "marts.fct_orders", "marts.mart_daily_sales", "marts.mart_monthly_sales",
            "marts.mart_cohort_retention_monthly", "marts.mart_serving_sales_daily", "ml.order_anomalies",
            "ml.forecast_daily_sales"} <= partitioned
    assert not {"marts.dim_date", "marts.dim_customers", "marts.mart_kpis", "ml.customer_scores"} & partitioned
    assert exported["marts.dim_customers"].left_out == ("customer_name", "email", "has_valid_email")
    print(f"sample lake: {len(exported)} tables ({len(partitioned)} partitioned), {sample_lake.export.files} files, "
          f"{sample_lake.export.rows:,} rows, {sample_lake.export.bytes / 1e6:.1f} MB in "
          f"{sample_lake.export.seconds:.1f}s")


def test_every_table_read_back_with_duckdb_equals_the_warehouse(sample_lake: SampleLake,
                                                                 con: duckdb.DuckDBPyConnection) -> None:
    for table in sample_lake.tables:
        kept = kept_columns(table)
        lake = f"read_parquet({files(sample_lake.lake, table)}, hive_partitioning = false)"
        described = con.execute(f"describe select * from {lake}").fetchall()
        assert [(row[0], row[1]) for row in described] == kept, table.qualified
        warehouse = f"select {', '.join(lake_module.quote(name) for name, _ in kept)} from wh.{table.qualified}"
        rows = con.execute(f"select count(*) from wh.{table.qualified}").fetchone()[0]
        assert con.execute(f"select count(*) from {lake}").fetchone()[0] == rows, table.qualified
        for first, second in ((warehouse, f"select * from {lake}"), (f"select * from {lake}", warehouse)):
            missing = con.execute(f"select count(*) from ({first} except all {second})").fetchone()[0]
            assert missing == 0, f"{table.qualified}: {missing} rows differ"


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in one order whatever their order in the files: by every column's text."""
    order = frame.astype(str).sort_values(by=list(frame.columns), kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def test_every_table_read_back_with_pandas_equals_the_warehouse(sample_lake: SampleLake,
                                                                 con: duckdb.DuckDBPyConnection) -> None:
    partitioned = {f"{t.schema}.{t.name}": bool(t.partition_column and t.rows) for t in sample_lake.export.tables}
    for table in sample_lake.tables:
        kept = [name for name, _ in kept_columns(table)]
        warehouse_sql = f"select {', '.join(lake_module.quote(name) for name in kept)} from wh.{table.qualified}"
        for backend in ("numpy_nullable", "pyarrow"):
            # What a pandas user types: the table's folder, Hive keys added as columns; they are not the table's.
            lake = pd.read_parquet(sample_lake.lake / table.schema / table.name, dtype_backend=backend)
            keys = ["year", "month"] if partitioned[table.qualified] else []
            assert list(lake.columns) == [*kept, *keys], table.qualified
            lake = lake[kept]
            arrow = con.sql(warehouse_sql).arrow().read_all()
            warehouse = (arrow.to_pandas(types_mapper=pd.ArrowDtype) if backend == "pyarrow"
                         else pd.read_parquet(_roundtrip(arrow), dtype_backend=backend))
            pd.testing.assert_frame_equal(_sorted(lake), _sorted(warehouse), obj=f"{table.qualified} ({backend})")


def _roundtrip(arrow: object) -> object:
    """The warehouse's arrow table as pandas' numpy-nullable reader would convert it (an in-memory buffer)."""
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(arrow, buffer)  # type: ignore[arg-type]
    buffer.seek(0)
    return buffer


def test_partitions_cover_exactly_the_dated_rows(sample_lake: SampleLake, con: duckdb.DuckDBPyConnection) -> None:
    checked = 0
    rows = {(t.schema, t.name): t.rows for t in sample_lake.export.tables}
    for table in sample_lake.tables:
        column = table.partition_column
        folder = sample_lake.lake / table.schema / table.name
        if column is None or rows[(table.schema, table.name)] == 0:
            assert [p.name for p in folder.iterdir()] == ["data_0.parquet"], table.qualified
            continue
        day = lake_module.quote(column)
        expected = {
            (str(year) if year is not None else NULL_PARTITION, str(month) if month is not None else NULL_PARTITION)
            for year, month in con.execute(f"select distinct year({day}), month({day}) from wh.{table.qualified}")
            .fetchall()
        }
        found = {(p.parent.parent.name.removeprefix("year="), p.parent.name.removeprefix("month="))
                 for p in folder.glob("year=*/month=*/*.parquet")}
        assert found == expected, table.qualified
        assert list(folder.rglob("*.parquet")) == list(folder.glob("year=*/month=*/*.parquet"))
        # Each row in its own month's folder (DuckDB reads the keys back from the path).
        misplaced = con.execute(
            f"select count(*) from read_parquet({files(sample_lake.lake, table)}, hive_partitioning = true) "
            f"where year is distinct from year({day}) or month is distinct from month({day})"
        ).fetchone()[0]
        assert misplaced == 0, table.qualified
        checked += 1
    assert checked >= 10


def test_a_failed_export_leaves_the_previous_lake_whole(sample_lake: SampleLake, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake.lake, lake)
    before = digest(lake)
    write = lake_module._write_lake_table
    written: list[str] = []

    def failing_half_way(con: duckdb.DuckDBPyConnection, table: BusinessTable, *args: object
                         ) -> tuple[lake_module.LakeTable, dict]:
        if len(written) == len(sample_lake.tables) // 2:
            raise duckdb.IOException("IO Error: could not write file: disk full")
        written.append(table.qualified)
        return write(con, table, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lake_module, "_write_lake_table", failing_half_way)
    with pytest.raises(duckdb.IOException, match="disk full"):
        export_lake(sample_lake.published, lake)
    assert digest(lake) == before
    assert [p.name for p in tmp_path.iterdir()] == ["lake"]  # the half-written lake is gone


def test_a_second_export_writes_the_same_files(sample_lake: SampleLake, tmp_path: Path) -> None:
    again = export_lake(sample_lake.published, tmp_path / "lake")  # a new lake: every file written
    assert digest(tmp_path / "lake") == digest(sample_lake.lake)
    assert again.rows == sample_lake.export.rows and again.files == sample_lake.export.files
    assert again.kept == 0


def test_an_export_of_an_unchanged_warehouse_keeps_every_file(sample_lake: SampleLake, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake.lake, lake)
    before = digest(lake)
    again = export_lake(sample_lake.published, lake)
    assert (again.written, again.kept) == (0, sum(1 for _ in lake.rglob("*.parquet")))
    assert digest(lake) == before


def test_the_build_wrote_the_lake_of_its_published_warehouse(built_sample: Path, sample_lake: SampleLake) -> None:
    """The session's `comptoir build` exported the lake after publishing: the same files as an export of that
    published file, and a line in its summary."""
    assert digest(built_sample.parent / LAKE_DIR) == digest(sample_lake.lake)
    output = (built_sample.parent / BUILD_OUTPUT).read_text(encoding="utf-8")
    line = next(line for line in output.splitlines() if line.startswith("Lake: "))
    assert f"{built_sample.parent / LAKE_DIR} ({len(sample_lake.tables)} tables, " in line
