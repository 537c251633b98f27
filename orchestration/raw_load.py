"""Load the landing files into DuckDB schema `raw`, losing nothing.

Every value is kept as text (staging casts it), every row carries its source file,
line number and load time, and a line that cannot be parsed at all goes to
`raw.load_rejects` with its text and the reason. The work is done by DuckDB in a
few set-based statements per file; Python never loops over rows.

Why our own CSV line parser rather than DuckDB's CSV reader: the reader cannot tell
the line number of an accepted row, and an unterminated quote makes it swallow the
following good lines into one rejected record. Reading physical lines and parsing
each with one RFC-4180 regular expression gives exact line numbers and confines a
broken line to itself. The price is that a quoted field may not contain a line break
(documented in seeds/README.md).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.contract import SOURCES, FileFormat, Source

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
REJECTS_TABLE = f"{RAW_SCHEMA}.load_rejects"

# A CSV field: a quoted value with doubled inner quotes, or an unquoted value without quotes or commas.
_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
_LINE_PATTERN = rf"(?:{_FIELD})(?:,(?:{_FIELD}))*"
# Matched against "," || line: every match then starts with a comma and is never empty, so a
# leading empty field is not skipped (a regex engine steps past an empty match).
_FIELDS_PATTERN = rf",({_FIELD})"
# A delimiter that never occurs in text files, so the line reader returns whole lines.
_NO_DELIMITER = r"E'\x1f\x1e\x1d\x1c'"
_BOM = "\ufeff"

REASON_BLANK = "blank line"
REASON_BROKEN_QUOTING = "broken quoting: unbalanced or misplaced double quote"
REASON_INVALID_JSON = "invalid JSON"
REASON_NOT_OBJECT = "not a JSON object"


class RawFileError(Exception):
    """A landing file is missing, empty, garbled or lacks required columns."""


@dataclass
class LoadResult:
    source: str
    path: Path
    present: bool
    file_rows: int = 0  # data lines in the file (header excluded), or Parquet rows
    rows_loaded: int = 0
    rows_rejected: int = 0
    checksum: str | None = None
    reject_reasons: dict[str, int] = field(default_factory=dict)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_rejects_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(
        f"""create table if not exists {REJECTS_TABLE} (
            source varchar, source_file varchar, line_number bigint,
            raw_line varchar, reason varchar, loaded_at timestamp)"""
    )


def _create_empty_table(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    columns = ", ".join(f"{_quote_ident(c)} varchar" for c in source.column_names)
    con.execute(
        f"create or replace table {RAW_SCHEMA}.{source.name} ({columns}, "
        "_source_file varchar, _line_number bigint, _loaded_at timestamp)"
    )


def _read_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Physical lines of a text file into temp table `_lines(line_number, line)`."""
    try:
        con.execute(
            f"""create or replace temp table _lines as
            select row_number() over () as line_number, line
            from read_csv({_quote_literal(str(path))}, columns={{'line': 'VARCHAR'}}, header=false,
                          delim={_NO_DELIMITER}, quote='', escape='', auto_detect=false,
                          strict_mode=false, max_line_size=16777216)"""
        )
    except duckdb.Error as error:
        message = str(error)
        where = re.search(r"Line: (\d+)", message)
        problem = "invalid UTF-8 byte sequence" if "unicode" in message.lower() else message.splitlines()[0]
        at = f" at line {where.group(1)}" if where else ""
        raise RawFileError(f"{path.name}: not readable as UTF-8 text{at} ({problem})") from error
    # A byte-order mark is an encoding artefact, not data.
    con.execute(
        f"update _lines set line = substr(line, 2) where line_number = 1 and starts_with(line, '{_BOM}')"
    )


def _unquote(expr: str) -> str:
    return (
        f"case when {expr} = '' then null "
        f"when starts_with({expr}, '\"') then replace({expr}[2:-2], '\"\"', '\"') else {expr} end"
    )


def _parse_csv(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> str:
    """Parse `_lines` into temp table `_parsed`; returns the SELECT list of contract columns."""
    header_row = con.execute(
        f"""select regexp_full_match(line, '{_LINE_PATTERN}'),
                   regexp_extract_all(',' || line, '{_FIELDS_PATTERN}', 1)
            from _lines where line_number = 1"""
    ).fetchone()
    if header_row is None:
        raise RawFileError(f"{path.name}: file is empty (no header line)")
    header_ok, header_fields = header_row
    header = [(f or "").strip().strip('"').strip().lower() for f in header_fields] if header_ok else []
    missing = [c for c in source.required_columns if c not in header]
    if missing:
        found = ", ".join(header) if header else "no readable header"
        raise RawFileError(
            f"{path.name}: missing required column(s) {', '.join(missing)} (found: {found})"
        )
    duplicated = sorted({h for h in header if header.count(h) > 1 and h in source.column_names})
    if duplicated:
        raise RawFileError(f"{path.name}: column(s) {', '.join(duplicated)} appear more than once")

    con.execute(
        f"""create or replace temp table _parsed as
        with checked as (
            select line_number, line,
                   coalesce(trim(line), '') = '' as is_blank,
                   regexp_full_match(line, '{_LINE_PATTERN}') as is_wellformed
            from _lines where line_number > 1
        )
        select line_number, line, fields,
               case when is_blank then '{REASON_BLANK}'
                    when not is_wellformed then '{REASON_BROKEN_QUOTING}'
                    when len(fields) <> {len(header)}
                        then 'wrong number of fields: expected {len(header)}, found ' || len(fields)
               end as reason
        from (select *, case when is_wellformed and not is_blank
                             then regexp_extract_all(',' || line, '{_FIELDS_PATTERN}', 1) end as fields
              from checked)"""
    )
    selects = []
    for column in source.column_names:
        if column in header:
            selects.append(f"{_unquote(f'fields[{header.index(column) + 1}]')} as {_quote_ident(column)}")
        else:
            selects.append(f"null::varchar as {_quote_ident(column)}")
    return ", ".join(selects)


def _parse_ndjson(con: duckdb.DuckDBPyConnection, source: Source, path: Path) -> str:
    con.execute(
        f"""create or replace temp table _parsed as
        select line_number, line,
               case when coalesce(trim(line), '') = '' then '{REASON_BLANK}'
                    when not json_valid(line) then '{REASON_INVALID_JSON}'
                    when json_type(line::json) <> 'OBJECT' then '{REASON_NOT_OBJECT}'
               end as reason
        from _lines"""
    )
    presence = ", ".join(
        f"count(*) filter (where json_exists(line, '$.\"{c}\"'))" for c in source.required_columns
    )
    counts = con.execute(
        f"select count(*), {presence} from _parsed where reason is null"
    ).fetchone()
    assert counts is not None
    if counts[0] == 0:
        first = con.execute(
            "select line_number, reason from _parsed where reason <> 'blank line' order by 1 limit 1"
        ).fetchone()
        problem = f"line {first[0]}: {first[1]}" if first else "no data lines"
        raise RawFileError(f"{path.name}: no line is a readable JSON object ({problem})")
    missing = [c for c, n in zip(source.required_columns, counts[1:], strict=True) if n == 0]
    if missing:
        raise RawFileError(f"{path.name}: missing required column(s) {', '.join(missing)} in every record")
    return ", ".join(
        f"json_extract_string(line, '$.\"{c}\"') as {_quote_ident(c)}" for c in source.column_names
    )


def _load_parquet(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, loaded_at: datetime
) -> tuple[int, int]:
    literal = _quote_literal(str(path))
    try:
        described = con.execute(f"describe select * from read_parquet({literal})").fetchall()
    except duckdb.Error as error:
        raise RawFileError(f"{path.name}: not a readable Parquet file ({error})") from error
    present = {row[0].lower(): row[0] for row in described}
    missing = [c for c in source.required_columns if c not in present]
    if missing:
        raise RawFileError(
            f"{path.name}: missing required column(s) {', '.join(missing)} (found: {', '.join(present)})"
        )
    selects = ", ".join(
        f"{_quote_ident(present[c])}::varchar as {_quote_ident(c)}" if c in present
        else f"null::varchar as {_quote_ident(c)}"
        for c in source.column_names
    )
    con.execute(
        f"""create or replace table {RAW_SCHEMA}.{source.name} as
        select {selects}, {_quote_literal(path.name)} as _source_file,
               file_row_number + 1 as _line_number, ?::timestamp as _loaded_at
        from read_parquet({literal}, file_row_number=true) order by file_row_number""",
        [loaded_at],
    )
    rows = con.execute(f"select count(*) from {RAW_SCHEMA}.{source.name}").fetchone()[0]
    return rows, rows


def load_source(
    con: duckdb.DuckDBPyConnection, source: Source, seeds_dir: Path, loaded_at: datetime
) -> LoadResult:
    """Load one landing file into raw.<source>, replacing what an earlier load wrote."""
    path = seeds_dir / source.file_name
    result = LoadResult(source=source.name, path=path, present=path.is_file())
    ensure_rejects_table(con)
    if not result.present:
        if source.required:
            raise RawFileError(
                f"{source.file_name}: required source file is missing from {seeds_dir} "
                f"(expected columns: {', '.join(source.column_names)})"
            )
        log.info("optional source %s absent: raw.%s is left empty", source.file_name, source.name)
        con.execute("begin")
        _create_empty_table(con, source)
        con.execute(f"delete from {REJECTS_TABLE} where source = ?", [source.name])
        con.execute("commit")
        return result
    if path.stat().st_size == 0:
        raise RawFileError(f"{source.file_name}: file is empty (0 bytes)")
    result.checksum = file_checksum(path)

    con.execute("begin")
    try:
        if source.format is FileFormat.PARQUET:
            result.file_rows, result.rows_loaded = _load_parquet(con, source, path, loaded_at)
        else:
            _read_lines(con, path)
            parse = _parse_csv if source.format is FileFormat.CSV else _parse_ndjson
            select_list = parse(con, source, path)
            con.execute(
                f"""create or replace table {RAW_SCHEMA}.{source.name} as
                select {select_list}, {_quote_literal(path.name)} as _source_file,
                       line_number as _line_number, ?::timestamp as _loaded_at
                from _parsed where reason is null order by line_number""",
                [loaded_at],
            )
            con.execute(f"delete from {REJECTS_TABLE} where source = ?", [source.name])
            con.execute(
                f"""insert into {REJECTS_TABLE}
                select ?, ?, line_number, line, reason, ?::timestamp
                from _parsed where reason is not null order by line_number""",
                [source.name, path.name, loaded_at],
            )
            result.file_rows, result.rows_loaded = con.execute(
                "select count(*), count(*) filter (where reason is null) from _parsed"
            ).fetchone()
            result.reject_reasons = dict(
                con.execute(
                    "select reason, count(*) from _parsed where reason is not null group by 1 order by 1"
                ).fetchall()
            )
            con.execute("drop table if exists _lines; drop table if exists _parsed")
        result.rows_rejected = result.file_rows - result.rows_loaded
        if source.required and result.rows_loaded == 0:
            raise RawFileError(f"{source.file_name}: no data rows (the file holds only a header or blank lines)")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    log.info(
        "raw.%s: %d rows loaded, %d rejected from %s", source.name, result.rows_loaded,
        result.rows_rejected, path,
    )
    return result


def load_all(con: duckdb.DuckDBPyConnection, seeds_dir: Path, loaded_at: datetime) -> list[LoadResult]:
    return [load_source(con, source, seeds_dir, loaded_at) for source in SOURCES]
