"""The raw CSV parser against an independent line-by-line Python reference, and its edge cases.

The loader parses in DuckDB with native string functions (a regular expression only for rare
quoted lines) and joins multi-line records with window functions. The reference below reads the
same bytes in plain Python: `re` for RFC-4180, a sequential walk for multi-line records, Python's
UTF-8 decoder. Both must give the same rows and rejects, line for line.
"""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import CUSTOMERS, INVENTORY, ORDERS, SOURCES, FileFormat, Source
from orchestration.raw_load import (
    MAX_RECORD_LINES,
    REASON_BLANK,
    REASON_BROKEN_QUOTING,
    REASON_INVALID_JSON,
    REASON_INVALID_UTF8,
    load_source,
)
from tests.conftest import ORDERS_HEADER

LOADED_AT = datetime(2026, 1, 1, 12, 0, 0)

_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
_LINE = re.compile(rf"(?:{_FIELD})(?:,(?:{_FIELD}))*", re.DOTALL)
_FIELDS = re.compile(rf",({_FIELD})", re.DOTALL)


@dataclass
class Expected:
    rows: dict[int, tuple[str | None, ...]]  # first line -> contract column values
    rejects: dict[int, tuple[str, str]]  # line -> (reason, raw line)
    lines: int  # physical lines, header included


def _fields(text: str) -> list[str] | None:
    return _FIELDS.findall("," + text) if _LINE.fullmatch(text) else None


def _unquote(field: str) -> str | None:
    if field == "":
        return None
    return field[1:-1].replace('""', '"') if field.startswith('"') else field


def reference_csv(data: bytes, source: Source) -> Expected:
    """What the raw contract says a CSV file loads as, computed line by line in Python."""
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    texts: dict[int, str] = {}
    bad: set[int] = set()
    for number, raw in enumerate(raw_lines, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="backslashreplace")
            bad.add(number)
        if number == 1:
            text = text.removeprefix("\ufeff")
        texts[number] = text.removesuffix("\r")
    header = [(f or "").strip().strip('"').strip().lower() for f in _fields(texts[1]) or []]
    n_fields = len(header)

    def good(text: str) -> list[str] | None:
        fields = _fields(text)
        return fields if fields is not None and len(fields) == n_fields else None

    # Multi-line records: the sequential walk the loader computes with window functions.
    data_numbers = range(2, len(raw_lines) + 1)
    odd = [n for n in data_numbers if texts[n].count('"') % 2 == 1]
    records: dict[int, tuple[int, str]] = {}
    k = 0
    while k < len(odd):
        first = odd[k]
        if k + 1 < len(odd) and odd[k + 1] - first < MAX_RECORD_LINES:
            last = odd[k + 1]
            joined = "\n".join(texts[n] for n in range(first, last + 1))
            if not bad & set(range(first, last + 1)) and good(joined) is not None:
                records[first] = (last, joined)
                k += 2
                continue
        k += 1
    covered = {n for first, (last, _) in records.items() for n in range(first + 1, last + 1)}

    expected = Expected(rows={}, rejects={}, lines=len(raw_lines))
    for number in data_numbers:
        if number in covered:
            continue
        text = records[number][1] if number in records else texts[number]
        fields = good(text) if number not in bad else None
        if fields is not None:
            values = [_unquote(f) for f in fields]
            expected.rows[number] = tuple(
                values[header.index(c)] if c in header else None for c in source.column_names
            )
            continue
        parsed = _fields(text)
        if all(unicodedata.category(c) == "Zs" for c in text):  # DuckDB's trim strips space separators
            reason = REASON_BLANK
        elif number in bad:
            reason = REASON_INVALID_UTF8
        elif parsed is None:
            reason = REASON_BROKEN_QUOTING
        else:
            reason = f"wrong number of fields: expected {n_fields}, found {len(parsed)}"
        expected.rejects[number] = (reason, text)
    return expected


def loaded(con: duckdb.DuckDBPyConnection, source: Source, file_name: str) -> Expected:
    columns = ", ".join(f'"{c}"' for c in source.column_names)
    rows = con.execute(
        f"select _line_number, {columns} from raw.{source.name} where _source_file = ?", [file_name]
    ).fetchall()
    rejects = con.execute(
        "select line_number, reason, raw_line from raw.load_rejects where source = ? and source_file = ?",
        [source.name, file_name],
    ).fetchall()
    lines = con.execute(
        "select lines from raw.load_files where source = ? and source_file = ?", [source.name, file_name]
    ).fetchone()
    return Expected(
        rows={r[0]: tuple(r[1:]) for r in rows},
        rejects={r[0]: (r[1], r[2]) for r in rejects},
        lines=lines[0] if lines else 0,
    )


def _assert_same(actual: Expected, expected: Expected) -> None:
    assert actual.lines == expected.lines
    assert sorted(actual.rejects) == sorted(expected.rejects)
    assert actual.rejects == expected.rejects
    assert sorted(actual.rows) == sorted(expected.rows)
    assert actual.rows == expected.rows


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize("source", [s for s in SOURCES if s.format is FileFormat.CSV], ids=lambda s: s.name)
def test_sample_csv_files_load_as_the_python_reference_reads_them(con, sample_dir: Path, source: Source) -> None:
    load_source(con, source, sample_dir, LOADED_AT)
    expected = reference_csv((sample_dir / source.file_name).read_bytes(), source)
    _assert_same(loaded(con, source, source.file_name), expected)
    # The sample mixes the native paths (no quote, one quoted field) and the regular expression.
    kinds = {t.count('"') for t in (sample_dir / source.file_name).read_text().splitlines()}
    if source is ORDERS:
        assert {0, 2} <= kinds and max(kinds) > 2


_TOKENS = ["a", "b", "é", ",", ",", '"', '""', " ", "\x1f", "\r"]
_INVENTORY_HEADER = "product_id,warehouse_id,stock_quantity,last_updated"


def _random_file(rng: random.Random, lines: int) -> bytes:
    """A 4-column CSV of random text: good lines, stray quotes, multi-line records, bad bytes."""
    out = [_INVENTORY_HEADER.encode()]
    for _ in range(lines):
        kind = rng.random()
        if kind < 0.35:  # a good line, some fields quoted
            fields = [rng.choice(["P1", '"W, 1"', "", '"say ""hi"""', '""', "7", "é"]) for _ in range(4)]
            out.append(",".join(fields).encode())
        elif kind < 0.45:  # a record whose quoted field holds line breaks
            inner = "\n".join(rng.choice(["x", "y, z", 'q""q', ""]) for _ in range(rng.randint(2, 4)))
            out.extend(f'P2,W2,"{inner}",2025-01-01'.encode().split(b"\n"))
        elif kind < 0.5:  # an invalid UTF-8 byte
            out.append(rng.choice([b"P3,W3,\xff,x", b'P3,"\xe9",1,2', b"\xc3(", b'"\xff']))
        elif kind < 0.55:
            out.append(rng.choice([b"", b"   ", b"\r"]))
        else:
            out.append("".join(rng.choice(_TOKENS) for _ in range(rng.randint(0, 14))).encode())
    return b"\n".join(out) + rng.choice([b"\n", b"", b"\r\n"])


@pytest.mark.parametrize("seed", range(12))
def test_random_files_load_as_the_python_reference_reads_them(con, tmp_path: Path, seed: int) -> None:
    data = _random_file(random.Random(seed), 400)
    (tmp_path / "inventory.csv").write_bytes(data)
    load_source(con, INVENTORY, tmp_path, LOADED_AT)
    expected = reference_csv(data, INVENTORY)
    actual = loaded(con, INVENTORY, "inventory.csv")
    _assert_same(actual, expected)
    assert expected.rows and expected.rejects


def test_random_files_cover_every_case(tmp_path: Path) -> None:
    """Across the seeds above: multi-line records, bad bytes, both kinds of broken lines."""
    kinds: set[str] = set()
    for seed in range(12):
        expected = reference_csv(_random_file(random.Random(seed), 400), INVENTORY)
        kinds |= {reason.split(":")[0] for reason, _ in expected.rejects.values()}
        numbers = sorted([*expected.rows, *expected.rejects])
        if any(b - a > 1 for a, b in itertools.pairwise(numbers)):
            kinds.add("multi-line record")
    assert kinds >= {REASON_BLANK, REASON_INVALID_UTF8, "broken quoting", "wrong number of fields", "multi-line record"}


def _partition(actual: Expected, header_lines: int) -> list[tuple[int, int]]:
    """(first, last) physical line of every loaded or rejected record: a record runs up to the
    line before the next loaded or rejected line of the file (the documented reconciliation)."""
    starts = sorted([*actual.rows, *actual.rejects])
    ends = [n - 1 for n in starts[1:]] + [actual.lines]
    assert starts[0] == header_lines + 1
    return list(zip(starts, ends, strict=True))


def test_a_quoted_field_may_hold_line_breaks_and_the_lines_still_reconcile(con, make_seeds) -> None:
    lines = [
        ORDERS_HEADER,
        'O1,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"1 Main St',  # 2 \
        "Floor 3, door 2",  # 3  |  one record, lines 2-4
        'Paris"',  # 4 /
        "O2,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,plain",  # 5
        'O3,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"a ""quoted""',  # 6 \ one record, lines 6-7
        'word",',  # 7 / ... with one field too many: rejected line by line
        'O4,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"x\r',  # 8 \ CRLF inside a record
        'y"\r',  # 9 /
    ]
    folder = make_seeds({"orders.csv": "\n".join(lines) + "\n"})
    result = load_source(con, ORDERS, folder, LOADED_AT)
    rows = con.execute("select _line_number, shipping_address from raw.orders order by 1").fetchall()
    assert rows == [(2, "1 Main St\nFloor 3, door 2\nParis"), (5, "plain"), (8, "x\ny")]
    rejects = con.execute("select line_number, reason, raw_line from raw.load_rejects order by 1").fetchall()
    assert rejects == [(6, REASON_BROKEN_QUOTING, lines[5]), (7, REASON_BROKEN_QUOTING, lines[6])]
    actual = loaded(con, ORDERS, "orders.csv")
    assert actual.lines == len(lines)
    assert _partition(actual, header_lines=1) == [(2, 4), (5, 5), (6, 6), (7, 7), (8, 9)]
    assert (result.rows_loaded, result.rows_rejected, result.files[0].lines) == (3, 2, 9)


def test_an_unterminated_quote_does_not_take_the_good_lines_after_it(con, make_seeds) -> None:
    good = "O{n},1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,\"{n} Rue X, Lyon\""
    lines = [ORDERS_HEADER, 'O1,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"unterminated, Paris']
    lines += [good.format(n=n) for n in range(2, 8)]
    lines += ['O8,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"also open']  # pairs with line 2: invalid
    lines += [good.format(n=n) for n in range(9, 12)]
    folder = make_seeds({"orders.csv": "\n".join(lines) + "\n"})
    load_source(con, ORDERS, folder, LOADED_AT)
    assert con.execute("select line_number from raw.load_rejects order by 1").fetchall() == [(2,), (9,)]
    rows = con.execute("select _line_number, order_id, shipping_address from raw.orders order by 1").fetchall()
    assert [r[0] for r in rows] == [*range(3, 9), 10, 11, 12]
    assert rows[0] == (3, "O2", "2 Rue X, Lyon")


@pytest.mark.parametrize(("body_lines", "joined"), [(MAX_RECORD_LINES - 2, True), (MAX_RECORD_LINES - 1, False)])
def test_a_record_spans_at_most_the_bound(con, make_seeds, body_lines: int, joined: bool) -> None:
    """A record of MAX_RECORD_LINES lines is joined; one more line and every line stands alone."""
    body = [f"line {n} of a long note" for n in range(body_lines)]
    lines = [ORDERS_HEADER, 'O0,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"open', *body, 'closed"']
    last = "O9,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,x"
    folder = make_seeds({"orders.csv": "\n".join([*lines, last]) + "\n"})
    load_source(con, ORDERS, folder, LOADED_AT)
    rows = con.execute("select _line_number, shipping_address from raw.orders order by 1").fetchall()
    rejected = con.execute("select count(*) from raw.load_rejects").fetchone()[0]
    if joined:
        assert len(lines) - 1 == MAX_RECORD_LINES
        assert rows == [(2, "\n".join(["open", *body, "closed"])), (len(lines) + 1, "x")] and rejected == 0
    else:
        assert rows == [(len(lines) + 1, "x")] and rejected == len(lines) - 1


def test_a_bad_utf8_byte_rejects_only_its_line(con, make_seeds) -> None:
    header = ORDERS_HEADER.encode()
    good = 'O1,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"Düsseldorf, Königsallee 1"'.encode()
    bad = b"O2,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,M\xfcnchen"
    data = b"\n".join([header, good, bad, good.replace(b"O1", b"O3")]) + b"\n"
    folder = make_seeds({"orders.csv": data})
    load_source(con, ORDERS, folder, LOADED_AT)
    rejects = con.execute("select line_number, reason, raw_line from raw.load_rejects").fetchall()
    assert rejects == [(3, REASON_INVALID_UTF8, "O2,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,M\\xfcnchen")]
    rows = con.execute("select _line_number, shipping_address from raw.orders order by 1").fetchall()
    assert rows == [(2, "Düsseldorf, Königsallee 1"), (4, "Düsseldorf, Königsallee 1")]


def test_a_bad_utf8_byte_in_ndjson_rejects_only_its_line(con, make_seeds) -> None:
    good = b'{"customer_id": "C1", "name": "Zo\xc3\xab", "email": null, "city": "Lyon", "country": "FR", ' \
           b'"registration_date": "2024-01-01", "loyalty_tier": "gold"}'
    data = b"\n".join([good, good.replace(b"Zo\xc3\xab", b"Zo\xeb").replace(b"C1", b"C2"), b"{", good]) + b"\n"
    folder = make_seeds({"customers.json": data})
    load_source(con, CUSTOMERS, folder, LOADED_AT)
    rejects = con.execute("select line_number, reason, raw_line from raw.load_rejects order by 1").fetchall()
    assert rejects[0][:2] == (2, REASON_INVALID_UTF8) and '"Zo\\xeb"' in rejects[0][2]
    assert rejects[1][:2] == (3, REASON_INVALID_JSON)
    rows = con.execute("select _line_number, customer_id, name, email from raw.customers order by 1").fetchall()
    assert rows == [(1, "C1", "Zoë", None), (4, "C1", "Zoë", None)]


def test_a_stray_carriage_return_is_data_not_a_line_break(con, make_seeds) -> None:
    data = (ORDERS_HEADER + "\r\nO1,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,a\rb\r\n"
            "O2,1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,c\r\n").encode()
    folder = make_seeds({"orders.csv": data})
    load_source(con, ORDERS, folder, LOADED_AT)
    rows = con.execute("select _line_number, shipping_address from raw.orders order by 1").fetchall()
    assert rows == [(2, "a\rb"), (3, "c")]


def test_line_numbers_are_exact_in_a_multi_megabyte_file(con, make_seeds) -> None:
    """Each line names its own physical line number (computed by Python); the loader must agree."""
    n = 120_000
    body = "\n".join(
        f'L{i},1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,"{i} Long Road, Apartment {i % 97}, Some City"'
        if i % 3 else f"L{i},1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,{i} Short Road"
        for i in range(2, n + 2)
    )
    folder = make_seeds({"orders.csv": ORDERS_HEADER + "\n" + body + "\n"})
    assert (folder / "orders.csv").stat().st_size > 5_000_000
    load_source(con, ORDERS, folder, LOADED_AT)
    count, wrong = con.execute(
        "select count(*), count(*) filter (where order_id <> 'L' || _line_number) from raw.orders"
    ).fetchone()
    assert (count, wrong) == (n, 0)


def test_the_line_that_closes_a_record_does_not_open_another(con, tmp_path: Path) -> None:
    """Lines 2-3 form a record, and so would lines 3-4: the walk takes 2-3, then 4 opens (and fails)."""
    lines = [_INVENTORY_HEADER, 'P1,W1,"x', '",7', '",,,', "P2,W2,5,2025-01-01"]
    (tmp_path / "inventory.csv").write_text("\n".join(lines) + "\n")
    load_source(con, INVENTORY, tmp_path, LOADED_AT)
    rows = con.execute("select _line_number, stock_quantity, last_updated from raw.inventory order by 1").fetchall()
    assert rows == [(2, "x\n", "7"), (5, "5", "2025-01-01")]
    assert con.execute("select line_number, reason from raw.load_rejects").fetchall() == [(4, REASON_BROKEN_QUOTING)]
    assert reference_csv((tmp_path / "inventory.csv").read_bytes(), INVENTORY).rows.keys() == {2, 5}


def test_a_required_json_key_that_is_always_null_is_still_present(con, make_seeds) -> None:
    record = '{"customer_id": "C1", "name": "A", "email": null, "city": null, "country": null, ' \
             '"registration_date": null, "loyalty_tier": null}'
    folder = make_seeds({"customers.json": record + "\n\t" + record.replace("C1", "C2") + "\n"})
    result = load_source(con, CUSTOMERS, folder, LOADED_AT)
    assert result.rows_loaded == 2
    assert con.execute("select count(registration_date) from raw.customers").fetchone()[0] == 0


@pytest.mark.parametrize("seed", range(3))
def test_files_read_in_pieces_and_blocks_load_the_same(con, tmp_path: Path, monkeypatch, seed: int) -> None:
    """Huge files are read in pieces, and a file with a bad byte is rewritten block by block: with
    tiny pieces and blocks (cut anywhere between lines, and inside long lines) nothing changes."""
    import orchestration.raw_load as raw_load

    data = b"\xef\xbb\xbf" + _random_file(random.Random(100 + seed), 300)
    (tmp_path / "inventory.csv").write_bytes(data)
    monkeypatch.setattr(raw_load, "_PIECE_BYTES", 257)
    monkeypatch.setattr(raw_load, "_BLOCK_BYTES", 13)
    assert len(raw_load._pieces(tmp_path / "inventory.csv", 0, len(data))) > 10
    load_source(con, INVENTORY, tmp_path, LOADED_AT)
    _assert_same(loaded(con, INVENTORY, "inventory.csv"), reference_csv(data, INVENTORY))
