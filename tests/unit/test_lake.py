"""The Parquet lake and `comptoir export` on a tiny hand-made published warehouse (orchestration/lake.py): layout,
partitions (NULL dates included), types, personal columns, atomicity, idempotence, the export's refusals.
The same checks on the built sample: tests/integration/test_lake.py."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset
import pytest

from orchestration import lake as lake_module
from orchestration.lake import NULL_PARTITION, ExportError, NoWarehouseError, export_lake, export_table, recover_lake

DEAD_PID = 999_999_999  # above any pid_max: no such process


@pytest.fixture
def published(tmp_path: Path) -> Path:
    path = tmp_path / "home" / "published" / "comptoir.duckdb"
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema ml; create schema staging; create schema features")
        # A dated mart over three months, one row without a date, a HUGEINT sum, a formula-like text.
        con.execute("""
            create table marts.fct_orders as
            select 'O' || i as order_id,
                   case when i = 7 then null else date '2024-12-20' + (i * 3)::int end as order_date,
                   cast(i as hugeint) * 1000000000000 as units,
                   cast(i * 1.25 as decimal(38, 2)) as revenue,
                   case when i = 3 then '=HYPERLINK("http://x","y")' when i = 4 then '-5 units' else 'ok' end as note,
                   timestamp '2025-01-01 10:00:00' + to_minutes(i) as refreshed_at
            from range(20) t(i)
        """)
        con.execute("""
            create table marts.dim_customers as
            select 'C' || i as customer_id, 'Name ' || i as customer_name, 'c' || i || '@example.com' as email,
                   'Paris' as city, date '2024-01-01' + i::int as registered_on
            from range(5) t(i)
        """)
        con.execute("""
            create table marts.dim_date as
            select d::date as date_day, year(d)::integer as year, month(d)::integer as month
            from range(date '2024-12-30', date '2025-01-03', interval 1 day) t(d)
        """)
        con.execute("create table marts.mart_monthly_sales (month_start date, revenue decimal(38, 2))")  # no row
        con.execute("create table ml.customer_scores as select 'C1' as customer_id, 71.5::double as score, "
                    "date '2025-01-31' as as_of_date")
        con.execute("create table staging.stg_shop__orders as select 'O1' as order_id")
        con.execute("create table features.feat_as_of_date as select date '2025-01-31' as as_of_date")
    return path


def digest(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_lake_holds_the_business_tables_partitioned_by_month(published: Path, tmp_path: Path) -> None:
    lake = tmp_path / "home" / "lake"
    result = export_lake(published, lake)

    assert sorted(str(p.relative_to(lake)) for p in lake.glob("*/*")) == [
        "marts/dim_customers", "marts/dim_date", "marts/fct_orders", "marts/mart_monthly_sales",
        "ml/customer_scores"]  # no staging, no features
    assert {t.name: t.partition_column for t in result.tables} == {
        "dim_customers": None, "dim_date": None, "fct_orders": "order_date", "mart_monthly_sales": "month_start",
        "customer_scores": None}
    orders = lake / "marts" / "fct_orders"
    assert sorted(str(p.parent.relative_to(orders)) for p in orders.rglob("*.parquet")) == [
        "year=2024/month=12", "year=2025/month=1", "year=2025/month=2",
        f"year={NULL_PARTITION}/month={NULL_PARTITION}"]
    # dim_date has columns named year and month: unpartitioned, so no folder key stands for them.
    assert [p.name for p in (lake / "marts" / "dim_date").iterdir()] == ["data_0.parquet"]
    assert result.rows == 20 + 5 + 4 + 1 and result.files == 4 + 1 + 1 + 1 + 1
    # A dated table without a row: one file all the same, so that readers get its columns.
    assert [p.name for p in (lake / "marts" / "mart_monthly_sales").iterdir()] == ["data_0.parquet"]
    # pandas reads the NULL partition with non-dictionary keys (its default, dictionaries, cannot merge a NULL).
    frame = pd.read_parquet(orders, partitioning=pyarrow.dataset.partitioning(flavor="hive"))
    assert len(frame) == 20 and frame["year"].isna().sum() == 1

    with duckdb.connect() as con:
        con.execute(f"attach '{published}' as wh (read_only)")
        files = f"'{orders}/**/*.parquet'"
        # Same names and types (HUGEINT as DECIMAL(38,0)), same rows; year/month only in the folder names.
        described = con.execute(f"describe select * from read_parquet({files}, hive_partitioning = false)").fetchall()
        assert [(row[0], row[1]) for row in described] == [
            ("order_id", "VARCHAR"), ("order_date", "DATE"), ("units", "DECIMAL(38,0)"), ("revenue", "DECIMAL(38,2)"),
            ("note", "VARCHAR"), ("refreshed_at", "TIMESTAMP")]
        for first, second in ((f"read_parquet({files}, hive_partitioning = false)", "wh.marts.fct_orders"),
                              ("wh.marts.fct_orders", f"read_parquet({files}, hive_partitioning = false)")):
            assert con.execute(f"select count(*) from (from {first} except all from {second})").fetchone() == (0,)
        # The row without a date reads back with NULL keys; every other row sits in its own month.
        keyed = f"read_parquet({files}, hive_partitioning = true)"
        assert con.execute(f"select order_id, year, month from {keyed} where order_date is null").fetchall() == [
            ("O7", None, None)]
        assert con.execute(f"select count(*) from {keyed} where year != year(order_date) "
                           "or month != month(order_date)").fetchone() == (0,)
        customers = con.execute(f"describe from '{lake}/marts/dim_customers/data_0.parquet'").fetchall()
        assert [row[0] for row in customers] == ["customer_id", "city", "registered_on"]  # personal columns left out


def test_the_lake_is_owner_only_and_a_second_export_writes_the_same_bytes(published: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    previous = os.umask(0o022)  # a library caller without Comptoir's umask
    try:
        export_lake(published, lake)
    finally:
        os.umask(previous)
    paths = [lake, *lake.rglob("*")]
    assert all(stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600) for p in paths)
    first = digest(lake)
    export_lake(published, lake)
    assert digest(lake) == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".lake")] == []


def test_a_failed_export_leaves_the_previous_lake_whole(published: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    export_lake(published, lake)
    before = digest(lake)
    with duckdb.connect(str(published)) as con:  # a new build: the next export would write other rows
        con.execute("insert into marts.fct_orders (order_id, order_date) values ('O99', date '2026-06-01')")
    write = lake_module._write_lake_table
    calls = []

    def failing(con: duckdb.DuckDBPyConnection, table: lake_module.BusinessTable, *args: object
                ) -> tuple[lake_module.LakeTable, dict]:
        calls.append(table.qualified)
        if len(calls) == 3:  # half-way: two tables written into the new lake, fct_orders the third
            raise OSError(28, "No space left on device")
        return write(con, table, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(lake_module, "_write_lake_table", failing)
    with pytest.raises(OSError, match="No space left"):
        export_lake(published, lake)
    assert digest(lake) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".lake")] == []  # nothing half-written left
    monkeypatch.setattr(lake_module, "_write_lake_table", write)
    export_lake(published, lake)
    assert (lake / "marts" / "fct_orders" / "year=2026" / "month=6").is_dir()


def _inodes(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_ino for path in root.rglob("*.parquet")}


def _read_back(lake: Path, con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"select * exclude (year, month) from read_parquet('{lake}/marts/{table}/**/*.parquet', "
                       "hive_partitioning = true) order by all").fetchall()


def test_a_new_day_writes_only_its_month_and_keeps_the_other_files(published: Path, tmp_path: Path) -> None:
    """The manifest's fingerprints find the changed month; the other months' files are the previous lake's own
    (hard links: same inode), and what is read back equals the warehouse."""
    lake = tmp_path / "lake"
    first = export_lake(published, lake)
    assert first.kept == 0 and (lake / lake_module.MANIFEST_FILE).is_file()
    before = _inodes(lake)
    with duckdb.connect(str(published)) as con:  # the next build: one new order in February, one changed figure
        con.execute("insert into marts.fct_orders (order_id, order_date, revenue) "
                    "values ('O20', date '2025-02-20', 1.00)")
        con.execute("update marts.dim_customers set city = 'Lyon' where customer_id = 'C1'")
    second = export_lake(published, lake)
    after = _inodes(lake)
    orders = {t.name: t for t in second.tables}["fct_orders"]
    assert (orders.written, orders.kept) == (1, 3)  # February written; December, January and the NULL dates kept
    february = "marts/fct_orders/year=2025/month=2/data_0.parquet"
    assert after[february] != before[february]
    assert {k: v for k, v in after.items() if k.startswith("marts/fct_orders") and k != february} == {
        k: v for k, v in before.items() if k.startswith("marts/fct_orders") and k != february}
    assert after["marts/dim_customers/data_0.parquet"] != before["marts/dim_customers/data_0.parquet"]
    assert after["ml/customer_scores/data_0.parquet"] == before["ml/customer_scores/data_0.parquet"]
    with duckdb.connect(str(published), read_only=True) as con:
        expected = con.execute("select order_id, order_date, cast(units as decimal(38, 0)), revenue, note, "
                               "refreshed_at from marts.fct_orders order by all").fetchall()
        assert _read_back(lake, con, "fct_orders") == expected


def test_a_changed_table_shape_or_a_lost_manifest_writes_the_table_again(published: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    export_lake(published, lake)
    with duckdb.connect(str(published)) as con:
        con.execute("alter table marts.fct_orders add column channel varchar default 'web'")
    again = {t.name: t for t in export_lake(published, lake).tables}
    assert (again["fct_orders"].written, again["fct_orders"].kept) == (4, 0)
    assert (again["dim_customers"].written, again["dim_customers"].kept) == (0, 1)
    (lake / lake_module.MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    rewritten = export_lake(published, lake)
    assert rewritten.kept == 0 and rewritten.written == len(rewritten.tables) + 3  # fct_orders: 4 partitions
    with duckdb.connect(str(published), read_only=True) as con:
        assert [row[-1] for row in _read_back(lake, con, "fct_orders")] == ["web"] * 20


def test_an_export_killed_between_its_renames_is_put_back(published: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    export_lake(published, lake)
    before = digest(lake)
    # What a SIGKILL between the two renames leaves: the previous lake set aside, the new one not yet in place.
    lake.rename(tmp_path / f".lake.old-{DEAD_PID}-abc")
    (tmp_path / f".lake.tmp-{DEAD_PID}-def" / "marts").mkdir(parents=True)
    alive = tmp_path / f".lake.tmp-{os.getppid()}-ghi"  # another export still running: left alone
    alive.mkdir()
    removed = recover_lake(lake)
    assert digest(lake) == before
    assert [p.name for p in removed] == [f".lake.tmp-{DEAD_PID}-def"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".lake")) == [alive.name]


def test_no_published_warehouse_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(NoWarehouseError, match="no published warehouse"):
        export_lake(tmp_path / "published" / "comptoir.duckdb", tmp_path / "lake")
    assert not (tmp_path / "lake").exists()


def test_export_csv_json_and_parquet_of_a_date_range(published: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    parquet = export_table(published, "marts.fct_orders", "parquet", out, date_from=date(2025, 1, 1),
                           date_to=date(2025, 1, 31))
    assert parquet.path == out / "marts.fct_orders.parquet" and parquet.date_column == "order_date"
    with duckdb.connect() as con:
        con.execute(f"attach '{published}' as wh (read_only)")
        expected = con.execute("select * from wh.marts.fct_orders where order_date between '2025-01-01' and "
                               "'2025-01-31' order by order_id").fetchall()
        assert parquet.rows == len(expected) == 10  # January: i = 4..14 but the undated 7
        assert con.execute(f"from '{parquet.path}' order by order_id").fetchall() == expected

    csv = export_table(published, "marts.fct_orders", "csv", out)
    raw = csv.path.read_bytes()
    assert raw.count(b"\r\n") == 21 and csv.rows == 20  # the header and 20 rows, CRLF
    frame = pd.read_csv(csv.path, dtype=str, keep_default_na=False)
    notes = dict(zip(frame["order_id"], frame["note"], strict=True))
    assert notes["O3"] == "'=HYPERLINK(\"http://x\",\"y\")" and notes["O4"] == "'-5 units" and notes["O5"] == "ok"
    assert frame.loc[frame["order_id"] == "O2", "units"].item() == "2000000000000"

    rows = json.loads(export_table(published, "marts.fct_orders", "json", out).path.read_text(encoding="utf-8"))
    assert len(rows) == 20
    by_id = {row["order_id"]: row for row in rows}
    assert by_id["O3"]["note"] == '=HYPERLINK("http://x","y")'  # JSON keeps the exact value
    assert by_id["O7"]["order_date"] is None and by_id["O1"]["order_date"] == "2024-12-23"


def test_export_leaves_out_personal_columns_unless_asked(published: Path, tmp_path: Path) -> None:
    without = export_table(published, "marts.dim_customers", "csv", tmp_path)
    assert without.left_out == ("customer_name", "email")
    assert pd.read_csv(without.path).columns.tolist() == ["customer_id", "city", "registered_on"]
    with_pii = export_table(published, "marts.dim_customers", "csv", tmp_path, include_pii=True)
    assert with_pii.left_out == ()
    assert pd.read_csv(with_pii.path)["email"].tolist()[0] == "c0@example.com"
    assert stat.S_IMODE(with_pii.path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("table", "message"), [
    ("staging.stg_shop__orders", "staging.stg_shop__orders is not a business table: only schemas marts and ml"),
    ("features.feat_as_of_date", "only schemas marts and ml can be exported"),
    ("marts.nope", "marts.nope does not exist in the published warehouse; tables of marts: dim_customers, dim_date"),
    ("mart_daily_sales", "give the table as SCHEMA.TABLE"),
])
def test_export_refuses_what_is_not_a_business_table(published: Path, tmp_path: Path, table: str,
                                                     message: str) -> None:
    with pytest.raises(ExportError, match=message.replace(".", r"\.")):
        export_table(published, table, "csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_date_range_needs_a_dated_table(published: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"ml\.customer_scores has no date to filter on"):
        export_table(published, "ml.customer_scores", "csv", tmp_path, date_from=date(2025, 1, 1))
    with pytest.raises(ExportError, match="the range is empty"):
        export_table(published, "marts.fct_orders", "csv", tmp_path, date_from=date(2025, 2, 1),
                     date_to=date(2025, 1, 1))
