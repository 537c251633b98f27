"""The raw load keeps every line: loaded or rejected with a reason, never lost; bad files fail clearly."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import CUSTOMERS, EMAIL_EVENTS, INVENTORY, ORDERS, PRODUCTS, SOURCES, FileFormat
from orchestration.raw_load import (
    REASON_BLANK,
    REASON_BROKEN_QUOTING,
    REASON_INVALID_JSON,
    REASON_NOT_OBJECT,
    RawFileError,
    load_all,
    load_source,
)
from tests.conftest import ORDERS_HEADER

LOADED_AT = datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def _data_lines(path: Path, has_header: bool) -> int:
    """Physical lines of a text file, counted from its bytes (independent of DuckDB)."""
    data = path.read_bytes()
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    return lines - (1 if has_header else 0)


def test_sample_every_line_is_loaded_or_rejected(con, sample_dir: Path) -> None:
    results = {r.source: r for r in load_all(con, sample_dir, LOADED_AT)}
    for source in SOURCES:
        path = sample_dir / source.file_name
        if source.format is FileFormat.PARQUET:
            import pyarrow.parquet as pq

            expected = pq.read_metadata(path).num_rows
        else:
            expected = _data_lines(path, has_header=source.format is FileFormat.CSV)
        loaded = con.execute(f"select count(*) from raw.{source.name}").fetchone()[0]
        rejected = con.execute(
            "select count(*) from raw.load_rejects where source = ?", [source.name]
        ).fetchone()[0]
        assert loaded + rejected == expected, source.name
        assert (results[source.name].rows_loaded, results[source.name].rows_rejected) == (loaded, rejected)
        # raw.load_files records the same, with the file's physical lines (header included).
        state = con.execute(
            "select lines, rows_loaded, rows_rejected, sha256 from raw.load_files where source = ?", [source.name]
        ).fetchall()
        header = 1 if source.format is FileFormat.CSV else 0
        assert state == [(expected + header, loaded, rejected, hashlib.sha256(path.read_bytes()).hexdigest())]
        # Line numbers of loaded and rejected rows partition the file's data lines exactly.
        first = 2 if source.format is FileFormat.CSV else 1
        gaps = con.execute(
            f"""select count(*) from range({first}, {first + expected}) r(n)
                where n not in (select _line_number from raw.{source.name})
                  and n not in (select line_number from raw.load_rejects where source = ?)""",
            [source.name],
        ).fetchone()[0]
        assert gaps == 0, source.name


def test_sample_rejects_match_the_generators_malformed_lines(con, sample_dir: Path) -> None:
    import json

    manifest = json.loads((sample_dir / "manifest.json").read_text())
    load_all(con, sample_dir, LOADED_AT)
    defects = manifest["defects"]
    by_source = dict(con.execute("select source, count(*) from raw.load_rejects group by 1").fetchall())
    orders_malformed = defects["orders_malformed_wrong_field_count"] + defects["orders_malformed_broken_quoting"]
    assert by_source.get("orders", 0) == orders_malformed
    assert by_source.get("customers", 0) == defects["customers_malformed_json"]


def test_each_malformed_csv_kind_is_rejected_with_its_reason(con, make_seeds) -> None:
    lines = [
        ORDERS_HEADER,
        'O1,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"12 ""Le Bon"" Rd, Paris"',  # 2 valid, quoted
        "O2,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed",  # 3 too few fields
        "O3,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,addr,extra",  # 4 too many fields
        'O4,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"unterminated, Paris',  # 5 broken quoting
        'O5,1,C1,P1,1,9.99,2024-03-01T10:00:00,compl"eted,x',  # 6 quote inside an unquoted field
        "",  # 7 blank
        "O6,1,,P1,1,9.99,2024-03-01T10:00:00,completed,",  # 8 valid, guest, empty address
        ",1,C1,,1,9.99,2024-03-01T10:00:00,completed,",  # 9 valid line with blank keys (staging's concern)
    ]
    folder = make_seeds({"orders.csv": "\n".join(lines) + "\n"})
    result = load_source(con, ORDERS, folder, LOADED_AT)
    rejects = con.execute(
        "select line_number, reason, raw_line from raw.load_rejects where source = 'orders' order by 1"
    ).fetchall()
    assert [(n, reason) for n, reason, _ in rejects] == [
        (3, "wrong number of fields: expected 9, found 8"),
        (4, "wrong number of fields: expected 9, found 10"),
        (5, REASON_BROKEN_QUOTING),
        (6, REASON_BROKEN_QUOTING),
        (7, REASON_BLANK),
    ]
    assert [raw for _, _, raw in rejects][:4] == lines[2:6]
    loaded = con.execute(
        "select _line_number, order_id, customer_id, shipping_address, _source_file from raw.orders order by 1"
    ).fetchall()
    assert loaded == [
        (2, "O1", "C1", '12 "Le Bon" Rd, Paris', "orders.csv"),
        (8, "O6", None, None, "orders.csv"),
        (9, None, "C1", None, "orders.csv"),
    ]
    assert (result.file_rows, result.rows_loaded, result.rows_rejected) == (8, 3, 5)


def test_csv_columns_are_matched_by_header_name_and_crlf_and_bom_are_handled(con, make_seeds) -> None:
    header = "\ufeffstatus,order_id,line_number,customer_id,product_id,quantity,unit_price,order_date,shipping_address"
    text = header + "\r\n" + "returned,O9,1,C1,P1,3,1.50,2024-05-05T08:00:00,Somewhere\r\n"
    folder = make_seeds({"orders.csv": text})
    load_source(con, ORDERS, folder, LOADED_AT)
    row = con.execute("select order_id, status, quantity, shipping_address from raw.orders").fetchall()
    assert row == [("O9", "returned", "3", "Somewhere")]


def test_ndjson_invalid_lines_are_rejected(con, make_seeds) -> None:
    good = '{"customer_id": "C1", "name": "A", "email": "a@x.io", "city": "Lyon", "country": "FR", ' \
           '"registration_date": "2024-01-01", "loyalty_tier": "silver"}'
    text = "\n".join([good, '{"customer_id": "C2", "name": ', "[1, 2]", "", good.replace("C1", "C3")]) + "\n"
    folder = make_seeds({"customers.json": text})
    load_source(con, CUSTOMERS, folder, LOADED_AT)
    rejects = con.execute(
        "select line_number, reason from raw.load_rejects where source = 'customers' order by 1"
    ).fetchall()
    assert rejects == [(2, REASON_INVALID_JSON), (3, REASON_NOT_OBJECT), (4, REASON_BLANK)]
    assert con.execute("select customer_id, _line_number from raw.customers order by 2").fetchall() == [
        ("C1", 1), ("C3", 5)
    ]


def test_parquet_values_are_kept_as_text_with_row_numbers(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, PRODUCTS, folder, LOADED_AT)
    rows = con.execute("select product_id, price, cost, _line_number from raw.products order by 4").fetchall()
    assert rows == [("P1", "9.99", "4.00", 1), ("P2", "0.00", None, 2)]


@pytest.mark.parametrize(
    ("files", "source", "message"),
    [
        ({"orders.csv": None}, ORDERS, "orders.csv: required source file is missing"),
        ({"customers.json": None}, CUSTOMERS, "customers.json: required source file is missing"),
        ({"products.parquet": None}, PRODUCTS, "products.parquet: required source file is missing"),
        ({"orders.csv": ""}, ORDERS, "orders.csv: file is empty (0 bytes)"),
        ({"orders.csv": ORDERS_HEADER + "\n"}, ORDERS, "orders.csv: no data rows"),
        ({"orders.csv": "order_id,customer_id,quantity\nO1,C1,1\n"}, ORDERS,
         "orders.csv: missing required column(s) line_number, product_id, unit_price, order_date, status, "
         "shipping_address (found: order_id, customer_id, quantity)"),
        ({"orders.csv": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"}, ORDERS,
         "orders.csv: not readable as UTF-8 text at line 1 (invalid UTF-8 byte sequence)"),
        ({"customers.json": '[{"customer_id": "C1"}]\n'}, CUSTOMERS,
         "customers.json: no line is a readable JSON object (line 1: not a JSON object)"),
        ({"customers.json": '{"customer_id": "C1", "name": "A"}\n'}, CUSTOMERS,
         "customers.json: missing required column(s) email, city, country, registration_date, loyalty_tier"),
        ({"products.parquet": b"PAR1 this is not parquet at all"}, PRODUCTS,
         "products.parquet: not a readable Parquet file"),
    ],
)
def test_bad_files_fail_with_a_message_naming_file_and_problem(con, make_seeds, files, source, message) -> None:
    folder = make_seeds(files)
    with pytest.raises(RawFileError) as raised:
        load_source(con, source, folder, LOADED_AT)
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value) and "LINE 1" not in str(raised.value)  # one line, no SQL excerpt


def test_a_failed_load_keeps_the_previous_table(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, ORDERS, folder, LOADED_AT)
    (folder / "orders.csv").write_text(ORDERS_HEADER + "\n")
    with pytest.raises(RawFileError):
        load_source(con, ORDERS, folder, LOADED_AT)
    assert con.execute("select count(*) from raw.orders").fetchone()[0] == 3


def test_missing_optional_source_gives_an_empty_table_with_its_columns(con, make_seeds) -> None:
    folder = make_seeds()
    for source in (INVENTORY, EMAIL_EVENTS):
        result = load_source(con, source, folder, LOADED_AT)
        assert not result.present
        columns = [r[0] for r in con.execute(f"describe raw.{source.name}").fetchall()]
        assert columns == [*source.column_names, "_source_file", "_line_number", "_loaded_at"]
        assert con.execute(f"select count(*) from raw.{source.name}").fetchone()[0] == 0


def test_loading_twice_gives_the_same_tables(con, sample_dir: Path) -> None:
    def snapshot() -> dict[str, list[tuple]]:
        tables = {}
        for source in SOURCES:
            cols = ", ".join(f'"{c}"' for c in [*source.column_names, "_source_file", "_line_number"])
            tables[source.name] = con.execute(f"select {cols} from raw.{source.name} order by _line_number").fetchall()
        tables["load_rejects"] = con.execute(
            "select source, source_file, line_number, raw_line, reason from raw.load_rejects order by 1, 3"
        ).fetchall()
        return tables

    load_all(con, sample_dir, LOADED_AT)
    first = snapshot()
    load_all(con, sample_dir, datetime(2026, 2, 2))
    assert snapshot() == first
