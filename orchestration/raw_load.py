"""Load the landing files into DuckDB schema `raw`, losing nothing, appending only what is new.

Every value is kept as text (staging casts it), every row carries its source file, line number
and load time, and a line that cannot be parsed at all goes to `raw.load_rejects` with its text
and the reason. The work is done by DuckDB in a few set-based statements per file; Python never
loops over rows.

Why our own CSV parsing rather than DuckDB's CSV reader: the reader cannot tell the line number
of an accepted row, and an unterminated quote makes it swallow the following good lines. We read
a file's physical lines (split at "\\n" only, so a stray "\\r" is data) and parse them with native
string functions: a line without a double quote is split at its commas, a line with two is split at
them first; only other quoted lines are matched by an RFC-4180 regular expression. A line with an
odd number of quotes may open a record whose quoted field holds a line break: such a record is
accepted only when the lines up to the next odd-quoted line form one well-formed record with the
header's field count; otherwise every line stands on its own, so a broken line never takes good
lines with it.

A source is any number of files (`orders.csv`, `orders_<tag>.csv`, see contract.Source.files_in).
`raw.load_files` remembers the sha256 of each file loaded; a later load skips an unchanged file,
appends the new lines of a file that grew by appending, and deletes then reloads a file that
changed otherwise (or deletes the rows of a removed file). `raw.load_log` records each file's
action at each load, so a reader can tell new rows (`_loaded_at` after a watermark) from a
rewritten history (a `replaced` or `removed` action after it).
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import duckdb

from orchestration.contract import SOURCES, FileFormat, Source

log = logging.getLogger(__name__)

RAW_SCHEMA = "raw"
REJECTS_TABLE = f"{RAW_SCHEMA}.load_rejects"
FILES_TABLE = f"{RAW_SCHEMA}.load_files"
LOG_TABLE = f"{RAW_SCHEMA}.load_log"

# A record spans at most this many physical lines: an unterminated quote near the top of a file
# never joins more than that into one string.
MAX_RECORD_LINES = 100
# Files larger than this are read in pieces (DuckDB strings stop at 4 GiB).
_PIECE_BYTES = 1 << 31
_BLOCK_BYTES = 1 << 24

_BOM = "\ufeff"

REASON_BLANK = "blank line"
REASON_BROKEN_QUOTING = "broken quoting: unbalanced or misplaced double quote"
REASON_INVALID_JSON = "invalid JSON"
REASON_NOT_OBJECT = "not a JSON object"
REASON_INVALID_UTF8 = "invalid UTF-8 byte sequence"


class RawFileError(Exception):
    """A landing file is missing, empty, garbled or lacks required columns."""


class Action(StrEnum):
    NEW = "new"
    APPENDED = "appended"
    UNCHANGED = "unchanged"
    REPLACED = "replaced"
    REMOVED = "removed"


HISTORY_REWRITING_ACTIONS = frozenset({Action.REPLACED, Action.REMOVED})


@dataclass
class FileLoad:
    """One landing file at one load: what was done and its state afterwards (see raw.load_files)."""

    name: str
    action: Action
    sha256: str | None = None
    size_bytes: int = 0
    lines: int = 0  # physical lines of a text file (header included), or Parquet rows
    rows_loaded: int = 0  # its rows in raw.<source> now
    rows_rejected: int = 0  # its lines in raw.load_rejects now
    rows_added: int = 0  # rows this load wrote (the new tail's for an appended file)
    rejects_added: int = 0


@dataclass
class LoadResult:
    source: str
    folder: Path
    files: list[FileLoad] = field(default_factory=list)
    rows_loaded: int = 0  # rows in raw.<source> after the load
    rows_rejected: int = 0  # the source's lines in raw.load_rejects after the load
    reject_reasons: dict[str, int] = field(default_factory=dict)
    file_name: str = ""  # the contract's base file name, for a source without files

    @property
    def present(self) -> bool:
        return any(f.action is not Action.REMOVED for f in self.files)

    @property
    def current_files(self) -> list[FileLoad]:
        return [f for f in self.files if f.action is not Action.REMOVED]

    @property
    def path(self) -> Path:
        """The single landing file, or the first one, or where the base file would be."""
        current = self.current_files
        return self.folder / (current[0].name if current else self.file_name)

    @property
    def checksum(self) -> str | None:
        current = self.current_files
        return current[0].sha256 if len(current) == 1 else None

    @property
    def file_rows(self) -> int:
        """Records read from the current files: loaded + rejected (data lines, unless a record spans lines)."""
        return self.rows_loaded + self.rows_rejected

    @property
    def history_rewritten(self) -> bool:
        """True when rows loaded earlier were deleted (a file replaced or removed)."""
        return any(f.action in HISTORY_REWRITING_ACTIONS for f in self.files)

    @property
    def actions(self) -> dict[str, str]:
        return {f.name: f.action.value for f in self.files}


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


@dataclass(frozen=True)
class _Fingerprint:
    sha256: str
    size: int
    prefix_sha256: str | None = None  # of the first `prefix_size` bytes, when asked
    prefix_ends_line: bool = False  # those bytes end with a line break


def _fingerprint(path: Path, prefix_size: int | None) -> _Fingerprint:
    """sha256 of the file, and in the same pass of its first `prefix_size` bytes."""
    digest = hashlib.sha256()
    prefix: str | None = None
    ends_line = False
    done = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            if prefix_size is not None and prefix is None and 0 < prefix_size <= done + len(block):
                cut = prefix_size - done  # >= 1: the prefix ends inside this block
                digest.update(block[:cut])
                prefix = digest.copy().hexdigest()
                ends_line = block[cut - 1] == ord("\n")
                digest.update(block[cut:])
            else:
                digest.update(block)
            done += len(block)
    return _Fingerprint(digest.hexdigest(), done, prefix, ends_line)


def ensure_rejects_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(
        f"""create table if not exists {REJECTS_TABLE} (
            source varchar, source_file varchar, line_number bigint,
            raw_line varchar, reason varchar, loaded_at timestamp)"""
    )
    con.execute(
        f"""create table if not exists {FILES_TABLE} (
            source varchar, source_file varchar, sha256 varchar, size_bytes bigint, lines bigint,
            rows_loaded bigint, rows_rejected bigint, loaded_at timestamp)"""
    )
    con.execute(
        f"""create table if not exists {LOG_TABLE} (
            loaded_at timestamp, source varchar, source_file varchar, action varchar,
            rows_loaded bigint, rows_rejected bigint)"""
    )


def _table_columns(source: Source) -> list[str]:
    return [*source.column_names, "_source_file", "_line_number", "_loaded_at"]


def _create_empty_table(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    columns = ", ".join(f"{_quote_ident(c)} varchar" for c in source.column_names)
    con.execute(
        f"create or replace table {RAW_SCHEMA}.{source.name} ({columns}, "
        "_source_file varchar, _line_number bigint, _loaded_at timestamp)"
    )


# ---------------------------------------------------------------------------------------------
# Physical lines


class _Utf8Errors(threading.local):
    """Byte offsets of the invalid sequences met by the current decode (one list per thread)."""

    offsets: list[int]


_utf8_errors = _Utf8Errors()


def _record_and_escape(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    _utf8_errors.offsets.append(error.start)
    return "".join(f"\\x{byte:02x}" for byte in error.object[error.start:error.end]), error.end


codecs.register_error("comptoir_raw_load", _record_and_escape)


def _copy_valid_utf8(path: Path, start: int, end: int, target: Path) -> list[int]:
    """Copy bytes [start, end) of `path` to `target` with every invalid UTF-8 byte written as `\\xNN`
    (Python's backslashreplace); return the 1-based numbers, counted from `start`, of the lines that
    held one. Only for a file that has such a byte: Python works per block and per bad byte."""
    bad_lines: list[int] = []
    lines_before = 0
    with path.open("rb") as handle, target.open("wb") as out:
        handle.seek(start)
        remaining = end - start
        carry = b""
        while remaining > 0 or carry:
            block = handle.read(min(_BLOCK_BYTES, remaining)) if remaining > 0 else b""
            remaining = remaining - len(block) if block else 0  # (a file cut short ends here)
            data = carry + block
            cut = data.rfind(b"\n") + 1 if remaining > 0 else len(data)
            if cut == 0:
                carry = data
                continue
            data, carry = data[:cut], data[cut:]
            _utf8_errors.offsets = []
            out.write(data.decode("utf-8", errors="comptoir_raw_load").encode("utf-8"))
            at, line = 0, lines_before + 1
            for offset in _utf8_errors.offsets:
                line += data.count(b"\n", at, offset)
                at = offset
                if not bad_lines or bad_lines[-1] != line:
                    bad_lines.append(line)
            lines_before += data.count(b"\n")
    return bad_lines


def _pieces(path: Path, start: int, size: int) -> list[tuple[int, int]]:
    """Byte ranges covering [start, size), cut after a line break, each at most _PIECE_BYTES long
    (unless one line is longer)."""
    ranges = []
    with path.open("rb") as handle:
        while start < size:
            end = min(start + _PIECE_BYTES, size)
            while end < size:  # move the cut to just after the next line break
                handle.seek(end - 1)
                block = handle.read(_BLOCK_BYTES)
                found = block.find(b"\n")
                if found >= 0 or not block:
                    end += found if found >= 0 else size
                    break
                end += len(block)
            ranges.append((start, min(end, size)))
            start = min(end, size)
    return ranges


def _copy_range(path: Path, start: int, end: int, target: Path) -> None:
    with path.open("rb") as handle, target.open("wb") as out:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            block = handle.read(min(_BLOCK_BYTES, remaining))
            if not block:
                break
            out.write(block)
            remaining -= len(block)


def _read_lines(
    con: duckdb.DuckDBPyConnection, path: Path, start: int, size: int, first_line: int, workdir: Path
) -> tuple[int, bool]:
    """Physical lines of bytes [start, size) of `path` into temp table `_lines(line_number, line)`,
    numbered from `first_line`, and the numbers of lines with an invalid UTF-8 byte into `_bad`.
    Returns (lines read, whether any line is bad).

    A line ends at "\\n"; a "\\r" before it is dropped; a last line without "\\n" counts. The common
    case reads the file itself; a tail or a huge file is copied piece by piece first, and a piece
    that is not valid UTF-8 is rewritten with its bad bytes escaped."""
    con.execute("create or replace temp table _lines (line_number bigint, line varchar)")
    con.execute("create or replace temp table _bad (line_number bigint)")
    read = 0
    any_bad = False
    for number, (begin, end) in enumerate(_pieces(path, start, size)):
        if (begin, end) == (0, size):
            piece = path
        else:
            piece = workdir / f"piece-{number}"
            _copy_range(path, begin, end, piece)
        # A byte-order mark is an encoding artefact, not data.
        bom = f"case when n = 1 and starts_with(line, '{_BOM}') then line[2:] else line end" if begin == 0 else "line"
        insert = f"""insert into _lines
            select n + ? as line_number, {bom} as line
            from (select n, case when ends_with(line, chr(13)) then line[:-2] else line end as line
                  from (select unnest(generate_series(1, len(l))) as n, unnest(l) as line, len(l) as total
                        from (select string_split(try(decode(content)), chr(10)) as l from read_blob(?)))
                  where n < total or line <> '')"""
        offset = first_line - 1 + read
        # A piece holds at least one line, so none means it is not valid UTF-8 (try(): an error
        # would abort the transaction).
        count = con.execute(insert, [offset, str(piece)]).fetchone()[0]  # type: ignore[index]
        if count == 0:
            clean = workdir / f"utf8-{number}"
            bad = _copy_valid_utf8(path, begin, end, clean)
            count = con.execute(insert, [offset, str(clean)]).fetchone()[0]  # type: ignore[index]
            con.execute("insert into _bad select unnest(?::bigint[]) + ?", [bad, offset])
            any_bad = any_bad or bool(bad)
        read += count
    return read, any_bad


# ---------------------------------------------------------------------------------------------
# CSV parsing, in SQL over a column `text` and `segs`: its split at double quotes (null when it has
# none). A line without quotes (most lines) is split at its commas; a line with two quotes (one
# quoted field: most of the rest) is checked and split with native string functions too; any
# other quoted line is matched by one RFC-4180 regular expression.

_SEGS = """case when contains(text, '"') then string_split(text, '"') end"""
# A CSV field: a quoted value with doubled inner quotes, or an unquoted value without quotes or commas.
_FIELD = r'"(?:[^"]|"")*"|[^,"]*'
_LINE_PATTERN = rf"(?:{_FIELD})(?:,(?:{_FIELD}))*"
# Matched against "," || text: every match then starts with a comma and is never empty, so a
# leading empty field is not skipped (a regex engine steps past an empty match).
_FIELDS_PATTERN = rf",({_FIELD})"
_SEPARATOR = "chr(31)"  # the unit separator: marks the commas that separate fields in a quoted line


def _with_segs(query: str, columns: str = "line_number, text") -> str:
    return f"select {columns}, {_SEGS} as segs from ({query})"


def _commas(expr: str) -> str:
    return f"(strlen({expr}) - strlen(replace({expr}, ',', '')))"


def _wellformed_sql() -> str:
    """`text` is a well-formed RFC-4180 line. With two quotes: the quoted field starts the line or
    follows a comma, and ends it or is followed by one."""
    return f"""(case when segs is null then true
                 when len(segs) = 3 then (segs[1] = '' or ends_with(segs[1], ','))
                                     and (segs[3] = '' or starts_with(segs[3], ','))
                 else regexp_full_match(text, '{_LINE_PATTERN}') end)"""


def _field_count_sql() -> str:
    """Fields of a well-formed `text`: the commas outside quotes, plus one."""
    return f"""(case when segs is null then {_commas('text')} + 1
                  when len(segs) = 3 then {_commas('segs[1]')} + {_commas('segs[3]')} + 1
                  else len(regexp_extract_all(',' || text, '{_FIELDS_PATTERN}', 1)) end)"""


def _fields_sql() -> str:
    """The fields of a well-formed `text`, for _unquote: quoted ones still in their quotes, except
    with two quotes, where the quoted field (which then holds no quote) is given bare unless it is
    empty. There the commas outside the quotes become unit separators to split at (unless the
    line holds one itself)."""
    sep = _SEPARATOR
    return f"""(case when segs is null then string_split(text, ',')
                  when len(segs) = 3 and not contains(text, {sep}) then string_split(
                      replace(segs[1], ',', {sep}) || if(segs[2] = '', '""', segs[2]) || replace(segs[3], ',', {sep}),
                      {sep})
                  else regexp_extract_all(',' || text, '{_FIELDS_PATTERN}', 1) end)"""


def _blank_sql() -> str:
    return "(trim(text) = '')"


def _bad_sql(bad: bool) -> str:
    return "line_number in (select line_number from _bad)" if bad else "false"


def _csv_good_sql(n_fields: int, bad: bool) -> str:
    """The line is one good record. (A blank line has one field: with more columns, the field
    count check rejects it without the costlier blank check.)"""
    blank = f"not {_blank_sql()} and " if n_fields < 2 else ""
    return f"({blank}not {_bad_sql(bad)} and {_wellformed_sql()} and {_field_count_sql()} = {n_fields})"


def _csv_reason_sql(n_fields: int, bad: bool) -> str:
    """Why the line is rejected; null for a good line."""
    return f"""case when {_csv_good_sql(n_fields, bad)} then null
                    when {_blank_sql()} then '{REASON_BLANK}'
                    when {_bad_sql(bad)} then '{REASON_INVALID_UTF8}'
                    when not {_wellformed_sql()} then '{REASON_BROKEN_QUOTING}'
                    else 'wrong number of fields: expected {n_fields}, found ' || {_field_count_sql()}
               end"""


def _unquote(expr: str) -> str:
    return (
        f"case when {expr} = '' then null "
        f"when starts_with({expr}, '\"') then replace({expr}[2:-2], '\"\"', '\"') else {expr} end"
    )


def _read_header(path: Path, source: Source, con: duckdb.DuckDBPyConnection) -> list[str]:
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RawFileError(f"{path.name}: not readable as UTF-8 text at line 1 ({REASON_INVALID_UTF8})") from error
    text = text.removeprefix(_BOM).removesuffix("\n").removesuffix("\r")
    row = con.execute(
        f"""select {_wellformed_sql()}, case when {_wellformed_sql()} then {_fields_sql()} end
            from ({_with_segs("select ?::varchar as text", "text")})""",
        [text],
    ).fetchone()
    assert row is not None
    header_ok, header_fields = row
    header = [(f or "").strip().strip('"').strip().lower() for f in header_fields] if header_ok else []
    missing = [c for c in source.required_columns if c not in header]
    if missing:
        found = ", ".join(header) if header else "no readable header"
        raise RawFileError(f"{path.name}: missing required column(s) {', '.join(missing)} (found: {found})")
    duplicated = sorted({h for h in header if header.count(h) > 1 and h in source.column_names})
    if duplicated:
        raise RawFileError(f"{path.name}: column(s) {', '.join(duplicated)} appear more than once")
    return header


def _join_multiline_records(con: duckdb.DuckDBPyConnection, n_fields: int, bad: bool) -> bool:
    """Find the records whose quoted field holds a line break; temp table `_multi(first_line,
    last_line, text)`. Returns whether there is any.

    A line with an odd number of quotes opens or closes such a record. Going down the file, an
    opening line and the next odd-quoted line (at most MAX_RECORD_LINES lines apart) make one
    record when the lines from one to the other, joined with "\\n", are one well-formed record with
    the header's field count; the next odd-quoted line after it opens again. When they do not, the
    opening line stands alone (a broken line) and that next line opens. The walk is computed with
    window functions over the odd-quoted lines only, which are among the lines rejected on their
    own (`_rejected`): an odd number of quotes is never a well-formed line."""
    con.execute(
        """create or replace temp table _odd as
        select line_number, row_number() over (order by line_number) as k
        from _rejected
        where (strlen(text) - strlen(replace(text, '"', ''))) % 2 = 1"""
    )
    if con.execute("select count(*) from _odd").fetchone()[0] < 2:  # type: ignore[index]
        return False
    has_bad = f"bool_or({_bad_sql(bad).replace('line_number in', 'l.line_number in')})"
    con.execute(
        f"""create or replace temp table _candidates as
        with spans as (
            select a.k, a.line_number as first_line, b.line_number as last_line
            from _odd a join _odd b on b.k = a.k + 1
            where b.line_number - a.line_number < {MAX_RECORD_LINES}
        ), joined as (
            select s.k, s.first_line, s.last_line, {has_bad} as has_bad,
                   string_agg(l.line, chr(10) order by l.line_number) as text
            from (select *, unnest(range(first_line, last_line + 1)) as line_number from spans) s
            join _lines l using (line_number)
            group by all
        )
        select k, first_line, last_line, text, not has_bad and {_csv_good_sql(n_fields, False)} as valid
        from ({_with_segs("select * from joined", "*")})"""
    )
    con.execute(
        """create or replace temp table _multi as
        with walk as (
            select o.k, o.line_number as first_line, c.last_line, c.text, coalesce(c.valid, false) as valid
            from _odd o left join _candidates c using (k)
        ), restarts as (
            -- a line opens for sure when it is the first, or when the one before could not pair
            select *, coalesce(not lag(valid) over (order by k), true) as restart from walk
        ), runs as (
            select *, sum(restart::int) over (order by k) as run from restarts
        ), positions as (
            select *, row_number() over (partition by run order by k) - 1 as position from runs
        )
        select first_line, last_line, text from positions where position % 2 = 0 and valid"""
    )
    return con.execute("select count(*) from _multi").fetchone()[0] > 0  # type: ignore[index]


def _load_csv_lines(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, header: list[str], bad: bool,
    loaded_at: datetime,
) -> tuple[int, int]:
    n_fields = len(header)
    # First the checks, line by line: the rejected lines are few, and the lines that may open or
    # close a multi-line record are among them. Then the fields of every other line or record.
    lines = "select line_number, line as text from _lines where line_number > 1"
    con.execute(
        f"""create or replace temp table _rejected as
        select line_number, text, reason
        from (select line_number, text, {_csv_reason_sql(n_fields, bad)} as reason from ({_with_segs(lines)}))
        where reason is not null"""
    )
    units = lines
    if _join_multiline_records(con, n_fields, bad):
        covered = "select unnest(range(first_line, last_line + 1)) from _multi"
        con.execute(f"delete from _rejected where line_number in ({covered})")
        units = f"{lines} and line_number not in ({covered}) union all select first_line, text from _multi"
    selects = [
        f"{_unquote(f'fields[{header.index(c) + 1}]')}" if c in header else "null::varchar"
        for c in source.column_names
    ]
    rows = con.execute(
        f"""insert into {RAW_SCHEMA}.{source.name} ({', '.join(map(_quote_ident, _table_columns(source)))})
        select {', '.join(selects)}, ?, line_number, ?::timestamp
        from (select line_number, {_fields_sql()} as fields from ({_with_segs(units)})
              where line_number not in (select line_number from _rejected))""",
        [path.name, loaded_at],
    ).fetchone()[0]  # type: ignore[index]
    rejects = con.execute(
        f"insert into {REJECTS_TABLE} select ?, ?, line_number, text, reason, ?::timestamp from _rejected",
        [source.name, path.name, loaded_at],
    ).fetchone()[0]  # type: ignore[index]
    return rows, rejects


def _load_ndjson_lines(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, bad: bool, loaded_at: datetime,
    whole_file: bool,
) -> tuple[int, int]:
    paths = "[" + ", ".join(_quote_literal(f'$."{c}"') for c in source.column_names) + "]"
    bad_line = f"when {_bad_sql(bad)} then '{REASON_INVALID_UTF8}'" if bad else ""
    # One validating scan of each line, then one extraction of all its values: a valid JSON text
    # is an object when its first character after JSON whitespace is "{".
    con.execute(
        f"""create or replace temp table _rejected as
        select line_number, line, reason
        from (select line_number, line,
                     case when trim(line) = '' then '{REASON_BLANK}'
                          {bad_line}
                          when not json_valid(line) then '{REASON_INVALID_JSON}'
                          when not starts_with(ltrim(line, ' ' || chr(9) || chr(13)), '{{') then '{REASON_NOT_OBJECT}'
                     end as reason
              from _lines)
        where reason is not null"""
    )
    selects = ", ".join(f"vals[{i}]" for i in range(1, len(source.column_names) + 1))
    rows = con.execute(
        f"""insert into {RAW_SCHEMA}.{source.name} ({', '.join(map(_quote_ident, _table_columns(source)))})
        select {selects}, ?, line_number, ?::timestamp
        from (select line_number, json_extract_string(line, {paths}) as vals from _lines
              where line_number not in (select line_number from _rejected))""",
        [path.name, loaded_at],
    ).fetchone()[0]  # type: ignore[index]
    if whole_file:
        _check_ndjson_columns(con, source, path, rows)
    rejects = con.execute(
        f"insert into {REJECTS_TABLE} select ?, ?, line_number, line, reason, ?::timestamp from _rejected",
        [source.name, path.name, loaded_at],
    ).fetchone()[0]  # type: ignore[index]
    return rows, rejects


def _check_ndjson_columns(con: duckdb.DuckDBPyConnection, source: Source, path: Path, rows: int) -> None:
    """Fail when no line is an object, or a required key is in no record. A column with a value in
    the loaded rows is there; only one that is null throughout needs a look for its key."""
    if rows == 0:
        first = con.execute(
            f"select line_number, reason from _rejected where reason <> '{REASON_BLANK}' order by 1 limit 1"
        ).fetchone()
        problem = f"line {first[0]}: {first[1]}" if first else "no data lines"
        raise RawFileError(f"{path.name}: no line is a readable JSON object ({problem})")
    required = source.required_columns
    counts = con.execute(
        f"select {', '.join(f'count({_quote_ident(c)})' for c in required)} from {RAW_SCHEMA}.{source.name} "
        "where _source_file = ?",
        [path.name],
    ).fetchone()
    assert counts is not None
    unsure = [c for c, n in zip(required, counts, strict=True) if n == 0]
    if unsure:
        present = con.execute(
            f"""select {', '.join(f"bool_or(json_exists(line, {_quote_literal(f'$.{chr(34)}{c}{chr(34)}')}))"
                                  for c in unsure)}
                from _lines where line_number not in (select line_number from _rejected)"""
        ).fetchone()
        assert present is not None
        missing = [c for c, found in zip(unsure, present, strict=True) if not found]
        if missing:
            raise RawFileError(f"{path.name}: missing required column(s) {', '.join(missing)} in every record")


def _load_text_file(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, loaded_at: datetime,
    start: int, size: int, first_line: int,
) -> tuple[int, int, int]:
    """Load the lines of `path` from byte `start` (line `first_line`) on; (rows, rejects, lines read)."""
    header = _read_header(path, source, con) if source.format is FileFormat.CSV else []
    with tempfile.TemporaryDirectory(prefix="comptoir-raw-load-") as workdir:
        read, bad = _read_lines(con, path, start, size, first_line, Path(workdir))
    if source.format is FileFormat.CSV:
        rows, rejects = _load_csv_lines(con, source, path, header, bad, loaded_at)
    else:
        rows, rejects = _load_ndjson_lines(con, source, path, bad, loaded_at, whole_file=start == 0)
    # (After a failure the rollback drops them: a statement here would only hide the error.)
    con.execute(
        "drop table _lines; drop table _bad; drop table _rejected; drop table if exists _odd; "
        "drop table if exists _candidates; drop table if exists _multi"
    )
    return rows, rejects, read


def _engine_message(error: duckdb.Error) -> str:
    """DuckDB's message without its SQL excerpt (`LINE 1: ...` and the caret line) or the file's full path: the
    reader needs the problem, not our query."""
    lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("LINE ")
             and set(line.strip()) != {"^"}]
    return " ".join(" ".join(lines).split()) or type(error).__name__


def _load_parquet_file(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, loaded_at: datetime
) -> int:
    literal = _quote_literal(str(path))
    try:
        described = con.execute(f"describe select * from read_parquet({literal})").fetchall()
    except duckdb.Error as error:
        raise RawFileError(f"{path.name}: not a readable Parquet file ({_engine_message(error)})") from error
    present = {row[0].lower(): row[0] for row in described}
    missing = [c for c in source.required_columns if c not in present]
    if missing:
        raise RawFileError(
            f"{path.name}: missing required column(s) {', '.join(missing)} (found: {', '.join(present)})"
        )
    selects = ", ".join(
        f"{_quote_ident(present[c])}::varchar" if c in present else "null::varchar" for c in source.column_names
    )
    return con.execute(  # type: ignore[index]
        f"""insert into {RAW_SCHEMA}.{source.name} ({', '.join(map(_quote_ident, _table_columns(source)))})
        select {selects}, ?, file_row_number + 1, ?::timestamp
        from read_parquet({literal}, file_row_number=true)""",
        [path.name, loaded_at],
    ).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# Per source: which files changed, and the load in one transaction


@dataclass(frozen=True)
class _Known:
    """A file as raw.load_files recorded it (sha256 None: loaded by an older loader, unknown)."""

    sha256: str | None
    size_bytes: int
    lines: int
    rows_loaded: int
    rows_rejected: int


def _known_files(con: duckdb.DuckDBPyConnection, source: Source, table_exists: bool) -> dict[str, _Known]:
    rows = con.execute(
        f"""select source_file, sha256, size_bytes, lines, rows_loaded, rows_rejected
            from {FILES_TABLE} where source = ?""",
        [source.name],
    ).fetchall()
    if rows:
        return {r[0]: _Known(*r[1:]) for r in rows}
    if not table_exists:
        return {}
    # A table written before raw.load_files existed: its files are known by name only.
    names = con.execute(
        f"""select _source_file from {RAW_SCHEMA}.{source.name}
            union select source_file from {REJECTS_TABLE} where source = ?""",
        [source.name],
    ).fetchall()
    return {r[0]: _Known(None, 0, 0, 0, 0) for r in names if r[0] is not None}


def _table_is_current(con: duckdb.DuckDBPyConnection, source: Source) -> bool | None:
    """None: no table; False: a table whose columns are not the contract's; True: ready to append to."""
    columns = [
        r[0]
        for r in con.execute(
            """select column_name from information_schema.columns
               where table_schema = ? and table_name = ? order by ordinal_position""",
            [RAW_SCHEMA, source.name],
        ).fetchall()
    ]
    if not columns:
        return None
    return columns == _table_columns(source)


def _may_open_a_record_at_end(con: duckdb.DuckDBPyConnection, source: Source, name: str, lines: int) -> bool:
    """Whether a line rejected near the end of the file's loaded part could open a record that the
    appended lines close: then appending would not give what loading the whole file gives."""
    if source.format is not FileFormat.CSV:
        return False
    count = con.execute(
        f"""select count(*) from {REJECTS_TABLE}
            where source = ? and source_file = ? and line_number > ? and reason = ?
              and (length(raw_line) - length(replace(raw_line, '"', ''))) % 2 = 1""",
        [source.name, name, lines - MAX_RECORD_LINES, REASON_BROKEN_QUOTING],
    ).fetchone()[0]  # type: ignore[index]
    return count > 0


def _delete_file_rows(con: duckdb.DuckDBPyConnection, source: Source, name: str) -> None:
    con.execute(f"delete from {RAW_SCHEMA}.{source.name} where _source_file = ?", [name])
    con.execute(f"delete from {REJECTS_TABLE} where source = ? and source_file = ?", [source.name, name])


def _missing_source_error(source: Source, folder: Path) -> RawFileError:
    return RawFileError(
        f"{source.file_name}: required source file is missing from {folder} "
        f"(expected {source.file_pattern}; columns: {', '.join(source.column_names)})"
    )


def load_source(
    con: duckdb.DuckDBPyConnection, source: Source, seeds_dir: Path, loaded_at: datetime,
    full_refresh: bool = False,
) -> LoadResult:
    """Bring raw.<source> in line with the source's files in `seeds_dir`, in one transaction.

    Unchanged files are skipped, new files and the new tail of a file that grew by appending are
    appended, other changed files and removed files have their rows and rejects deleted (and are
    reloaded). `full_refresh` reloads every file into a new table. A failure leaves the previous
    table, rejects and raw.load_files as they were."""
    paths = source.files_in(seeds_dir)
    result = LoadResult(source=source.name, folder=seeds_dir, file_name=source.file_name)
    if not paths and source.required:
        raise _missing_source_error(source, seeds_dir)
    for path in paths:
        if path.stat().st_size == 0:
            raise RawFileError(f"{path.name}: file is empty (0 bytes)")

    con.execute("begin")
    try:
        ensure_rejects_table(con)
        table = _table_is_current(con, source)
        known = _known_files(con, source, table is not None)
        rebuild = full_refresh or not table
        if rebuild:
            _create_empty_table(con, source)
            con.execute(f"delete from {REJECTS_TABLE} where source = ?", [source.name])
        for path in paths:
            result.files.append(_load_file(con, source, path, known.get(path.name), rebuild, loaded_at))
        for name in sorted(set(known) - {p.name for p in paths}):
            if not rebuild:
                _delete_file_rows(con, source, name)
            result.files.append(FileLoad(name=name, action=Action.REMOVED))
        result.files.sort(key=lambda f: f.name)

        result.rows_loaded = con.execute(f"select count(*) from {RAW_SCHEMA}.{source.name}").fetchone()[0]  # type: ignore[index]
        result.reject_reasons = dict(
            con.execute(
                f"select reason, count(*) from {REJECTS_TABLE} where source = ? group by 1 order by 1",
                [source.name],
            ).fetchall()
        )
        result.rows_rejected = sum(result.reject_reasons.values())
        if source.required and result.rows_loaded == 0:
            names = ", ".join(f.name for f in result.current_files)
            raise RawFileError(f"{names}: no data rows (the file holds only a header or blank lines)")
        _record_state(con, source, result, loaded_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    if not paths:
        log.info("optional source %s absent: raw.%s is left empty", source.file_pattern, source.name)
    log.info(
        "raw.%s: %d rows, %d rejected (%s)", source.name, result.rows_loaded, result.rows_rejected,
        ", ".join(f"{f.name} {f.action.value}" for f in result.files) or "no file",
    )
    return result


def _load_file(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, known: _Known | None, rebuild: bool,
    loaded_at: datetime,
) -> FileLoad:
    before = path.stat()
    done = _apply_action(con, source, path, known, rebuild, loaded_at, before.st_size)
    after = path.stat()
    if (done.size_bytes, after.st_size, after.st_mtime_ns) != (before.st_size, before.st_size, before.st_mtime_ns):
        # What was loaded and what its checksum describes could differ: rather fail than double lines.
        raise RawFileError(f"{path.name}: the file changed while it was being loaded; load again once it is complete")
    return done


def _apply_action(
    con: duckdb.DuckDBPyConnection, source: Source, path: Path, known: _Known | None, rebuild: bool,
    loaded_at: datetime, size: int,
) -> FileLoad:
    """Compare the file with what raw.load_files recorded, and do what its action calls for."""
    may_append = (
        known is not None and not rebuild and known.sha256 is not None and source.format is not FileFormat.PARQUET
        and 0 < known.size_bytes < size
    )
    fingerprint = _fingerprint(path, known.size_bytes if may_append and known else None)
    done = FileLoad(name=path.name, action=Action.NEW, sha256=fingerprint.sha256, size_bytes=fingerprint.size)
    if known is not None and not rebuild and known.sha256 == fingerprint.sha256:
        done.action = Action.UNCHANGED
        done.lines, done.rows_loaded, done.rows_rejected = known.lines, known.rows_loaded, known.rows_rejected
        return done
    if (
        may_append and known is not None and fingerprint.prefix_sha256 == known.sha256
        and fingerprint.prefix_ends_line and not _may_open_a_record_at_end(con, source, path.name, known.lines)
    ):
        done.action = Action.APPENDED
        done.rows_added, done.rejects_added, read = _load_text_file(
            con, source, path, loaded_at, known.size_bytes, fingerprint.size, known.lines + 1
        )
        done.lines = known.lines + read
        done.rows_loaded = known.rows_loaded + done.rows_added
        done.rows_rejected = known.rows_rejected + done.rejects_added
        return done
    if known is not None:
        done.action = Action.REPLACED
        if not rebuild:
            _delete_file_rows(con, source, path.name)
    if source.format is FileFormat.PARQUET:
        done.rows_added = done.lines = _load_parquet_file(con, source, path, loaded_at)
    else:
        done.rows_added, done.rejects_added, done.lines = _load_text_file(
            con, source, path, loaded_at, 0, fingerprint.size, 1
        )
    done.rows_loaded, done.rows_rejected = done.rows_added, done.rejects_added
    return done


def _record_state(con: duckdb.DuckDBPyConnection, source: Source, result: LoadResult, loaded_at: datetime) -> None:
    """raw.load_files := the source's current files; raw.load_log += this load's action per file."""
    previous = dict(
        con.execute(f"select source_file, loaded_at from {FILES_TABLE} where source = ?", [source.name]).fetchall()
    )
    con.execute(f"delete from {FILES_TABLE} where source = ?", [source.name])
    current = [
        (source.name, f.name, f.sha256, f.size_bytes, f.lines, f.rows_loaded, f.rows_rejected,
         previous.get(f.name, loaded_at) if f.action is Action.UNCHANGED else loaded_at)
        for f in result.current_files
    ]
    if current:
        con.executemany(f"insert into {FILES_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?)", current)
    if result.files:
        con.executemany(
            f"insert into {LOG_TABLE} values (?, ?, ?, ?, ?, ?)",
            [(loaded_at, source.name, f.name, f.action.value, f.rows_added, f.rejects_added) for f in result.files],
        )


def load_all(
    con: duckdb.DuckDBPyConnection, seeds_dir: Path, loaded_at: datetime, full_refresh: bool = False
) -> list[LoadResult]:
    return [load_source(con, source, seeds_dir, loaded_at, full_refresh) for source in SOURCES]
