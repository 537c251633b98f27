"""DuckDB session and byte-exact writers (CSV lines, parquet, manifest)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

MEMORY_LIMIT = "3GB"
THREADS = 2


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(tmp: Path, start: date) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB that spills to tmp; macros format values exactly as the contract wants."""
    con = duckdb.connect()
    con.execute(f"SET memory_limit = {sql_str(MEMORY_LIMIT)}")
    con.execute(f"SET temp_directory = {sql_str(str(tmp / 'duckdb_spill'))}")
    con.execute(f"SET threads = {THREADS}")
    con.execute("SET preserve_insertion_order = true")
    # RFC 4180: quote only when needed (comma, quote, leading/trailing space); NULL -> empty field.
    con.execute("""CREATE MACRO csvq(s) AS CASE WHEN s IS NULL THEN ''
        WHEN contains(s, ',') OR contains(s, '"') OR s <> trim(s) THEN '"' || replace(s, '"', '""') || '"'
        ELSE s END""")
    con.execute("""CREATE MACRO money(c) AS (CASE WHEN c < 0 THEN '-' ELSE '' END)
        || (abs(c) // 100)::VARCHAR || '.' || lpad((abs(c) % 100)::VARCHAR, 2, '0')""")
    # Millionths as the shortest decimal with at least two places: 11184000 -> 11.184, 9990000 -> 9.99.
    con.execute("""CREATE MACRO micros_fraction(m) AS rtrim(lpad((abs(m) % 1000000)::VARCHAR, 6, '0'), '0')""")
    con.execute("""CREATE MACRO money_micros(m) AS (CASE WHEN m < 0 THEN '-' ELSE '' END)
        || (abs(m) // 1000000)::VARCHAR || '.' || CASE WHEN length(micros_fraction(m)) < 2
            THEN rpad(micros_fraction(m), 2, '0') ELSE micros_fraction(m) END""")
    con.execute(f"CREATE MACRO ts_of(s) AS TIMESTAMP {sql_str(start.isoformat())} + to_seconds(s)")
    con.execute("CREATE MACRO iso(s) AS strftime(ts_of(s), '%Y-%m-%dT%H:%M:%S')")
    return con


def copy_lines(con: duckdb.DuckDBPyConnection, header: str | None, body_sql: str, path: Path) -> None:
    """Write an optional header line, then the body lines in order.

    body_sql yields (k, k2, line VARCHAR) where (k, k2) is a total order. Each line is already
    fully formatted (quoting done in SQL), so COPY must not quote anything; ORDER BY with
    preserve_insertion_order keeps the file order deterministic even with several threads.
    """
    head = "" if header is None else f"SELECT 0 AS g, 0 AS k, 0 AS k2, {sql_str(header)} AS line UNION ALL "
    con.execute(f"""COPY (
        SELECT line FROM ({head}SELECT 1 AS g, k, k2, line FROM ({body_sql})) ORDER BY g, k, k2
    ) TO {sql_str(str(path))} (FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER E'\\x1f')""")


def cents_to_decimal(cents: np.ndarray, known: np.ndarray | None = None, *, scale: int = 2) -> pa.Array:
    """Whole units of 10^-scale (cents by default) as a Parquet decimal(18, scale); None where not known."""
    values = [Decimal(int(c)).scaleb(-scale) if (known is None or k) else None
              for c, k in zip(cents, known if known is not None else np.ones(len(cents), bool), strict=True)]
    return pa.array(values, type=pa.decimal128(18, scale))


def write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic parquet: fixed compression and row group, no wall-clock metadata."""
    pq.write_table(table, path, compression="zstd", compression_level=3, row_group_size=65_536,
                   use_dictionary=True, write_statistics=True)


def write_manifest(manifest: dict[str, object], path: Path) -> None:
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def count_lines(path: Path) -> int:
    """Newline count of a file, streamed."""
    n = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            n += block.count(b"\n")
    return n
