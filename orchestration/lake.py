"""The business tables as files: the Parquet lake written after each publish, and one table exported on demand.

`export_lake` writes every table of the business schemas (marts, ml) of the published warehouse as Parquet under
`COMPTOIR_HOME/lake/<schema>/<table>/`: a dated table Hive-partitioned by `year=YYYY/month=M/` of its partition
date (`partition_column`), any other table as one `data_0.parquet`. The files hold the warehouse's columns with
its types (a HUGEINT becomes DECIMAL(38,0): Parquet has no 128-bit integer, and DuckDB would write a lossy DOUBLE);
`year` and `month` live in the folder names only. Personal columns (`personal.is_pii`) are left out: the lake is
what a business user may take away. DuckDB's COPY writes everything, one table after another; no row passes
through Python.

Atomic and idempotent: the new lake is made in a sibling folder, then renamed in place of the previous one (which
is then deleted), so a reader finds the previous lake or the new one, and a failed export leaves the previous lake
as it was. A new day costs about a day: the lake's manifest (`_comptoir_lake.json`, ignored by Hive-style readers
as its name starts with `_`) keeps each partition's row count and fingerprint (the sum of a hash of every written
column of every row); a partition whose rows are unchanged is hard-linked from the previous lake instead of
written again (files are never modified in place, so the two lakes may share them), and only the changed months
are written. A table whose columns changed is written whole. One DuckDB thread writes each file in the table's
storage order, so the same published warehouse gives byte-identical files.

`export_table` is `comptoir export`: one business table (a date range of it, personal columns only when asked)
as a Parquet, CSV or JSON file. Plain Python and DuckDB, no Dagster.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from orchestration.faults import pause_point
from orchestration.personal import is_pii
from orchestration.publish import fsync_dir
from orchestration.settings import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, duckdb_config, private_dir

log = logging.getLogger(__name__)

# The schemas a business user may read; raw, staging, intermediate, features and pipeline stay in the warehouse.
BUSINESS_SCHEMAS = ("marts", "ml")
# A table is partitioned by the first of these it has as a DATE column (the day or month its rows are about);
# a table with none of them (a snapshot as of one date, a dimension) is written unpartitioned.
PARTITION_DATE_COLUMNS = ("order_date", "date_day", "month_start", "cohort_month", "cohort_week")
PARTITION_KEYS = ("year", "month")
# Where DuckDB (like Hive and Spark) puts the rows whose partition date is NULL; it reads them back with NULL keys.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
FORMATS = ("parquet", "csv", "json")
# Text cells a spreadsheet would run as a formula (ml/csv_safety.py, the same OWASP rule, applied in SQL).
_FORMULA_PREFIXES = "'=', '+', '-', '@', chr(9), chr(13)"
_LEFTOVER_TAGS = (".tmp-", ".old-")
MANIFEST_FILE = "_comptoir_lake.json"
MANIFEST_VERSION = 1
UNPARTITIONED = ""  # the manifest's partition key of an undated table's one file


class ExportError(RuntimeError):
    """What the user asked for cannot be exported (not a business table, unknown, no date to filter on)."""


class NoWarehouseError(ExportError):
    """There is no published warehouse to export from."""


@dataclass(frozen=True)
class TableColumn:
    name: str
    type: str


@dataclass(frozen=True)
class BusinessTable:
    schema: str
    name: str
    columns: tuple[TableColumn, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def personal_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if is_pii(column.name))

    @property
    def partition_column(self) -> str | None:
        """The DATE column the table is partitioned and filtered by, or None (see PARTITION_DATE_COLUMNS).

        A table with a column named `year` or `month` (marts.dim_date) is never partitioned: the folder's key
        would stand for the column, with another type, in every Hive-aware reader."""
        names = {column.name: column.type for column in self.columns}
        if any(key in names for key in PARTITION_KEYS):
            return None
        return next((name for name in PARTITION_DATE_COLUMNS if names.get(name) == "DATE"), None)


@dataclass(frozen=True)
class LakeTable:
    schema: str
    name: str
    rows: int
    files: int
    partition_column: str | None
    left_out: tuple[str, ...]  # personal columns not written
    written: int = 0  # partitions (or the one file) written by this export; the others were kept
    kept: int = 0  # partitions hard-linked unchanged from the previous lake


@dataclass(frozen=True)
class LakeExport:
    path: Path
    tables: tuple[LakeTable, ...]
    bytes: int
    seconds: float

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def files(self) -> int:
        return sum(table.files for table in self.tables)

    @property
    def written(self) -> int:
        return sum(table.written for table in self.tables)

    @property
    def kept(self) -> int:
        return sum(table.kept for table in self.tables)


@dataclass(frozen=True)
class TableExport:
    table: str
    path: Path
    rows: int
    format: str
    left_out: tuple[str, ...]  # personal columns dropped (none with include_pii)
    date_column: str | None  # the column --from/--to filtered on, when they were given
    date_from: date | None
    date_to: date | None
    seconds: float


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def connect_published(published: Path) -> duckdb.DuckDBPyConnection:
    """The published warehouse, read-only, with one thread: files come out in the same order every time."""
    if not published.exists():
        raise NoWarehouseError(f"no published warehouse at {published}: run `comptoir build` first")
    return duckdb.connect(str(published), read_only=True, config={**duckdb_config(), "threads": "1"})


def business_tables(con: duckdb.DuckDBPyConnection) -> list[BusinessTable]:
    """Every table and view of the business schemas, by schema and name, with its columns in order."""
    rows = con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        f"where table_catalog = current_database() and table_schema in ({', '.join(map(_literal, BUSINESS_SCHEMAS))}) "
        "order by table_schema, table_name, ordinal_position"
    ).fetchall()
    columns: dict[tuple[str, str], list[TableColumn]] = {}
    for schema, table, column, kind in rows:
        columns.setdefault((str(schema), str(table)), []).append(TableColumn(str(column), str(kind)))
    return [BusinessTable(schema, name, tuple(cols)) for (schema, name), cols in columns.items()]


def find_table(con: duckdb.DuckDBPyConnection, qualified: str) -> BusinessTable:
    """The business table named SCHEMA.TABLE; ExportError naming it when it is not one."""
    schema, dot, name = qualified.strip().lower().partition(".")
    allowed = " and ".join(BUSINESS_SCHEMAS)
    if not dot or not schema or not name:
        raise ExportError(f"{qualified!r}: give the table as SCHEMA.TABLE, e.g. marts.mart_daily_sales")
    if schema not in BUSINESS_SCHEMAS:
        raise ExportError(
            f"{qualified} is not a business table: only schemas {allowed} can be exported "
            "(raw, staging, intermediate, features and pipeline stay inside the warehouse)"
        )
    tables = {table.name: table for table in business_tables(con) if table.schema == schema}
    if name not in tables:
        raise ExportError(f"{qualified} does not exist in the published warehouse; tables of {schema}: "
                          f"{', '.join(sorted(tables)) or 'none'}")
    return tables[name]


def _projection(columns: list[TableColumn], fmt: str) -> list[str]:
    """The SELECT list writing `columns` in `fmt`: HUGEINT as DECIMAL(38,0) in Parquet, formula-like text
    neutralised in CSV; every other column as it is."""
    items = []
    for column in columns:
        name = quote(column.name)
        if fmt == "parquet" and column.type in ("HUGEINT", "UHUGEINT"):
            items.append(f"cast({name} as decimal(38, 0)) as {name}")
        elif fmt == "csv" and column.type == "VARCHAR":
            items.append(f"case when left({name}, 1) in ({_FORMULA_PREFIXES}) then '''' || {name} else {name} end "
                         f"as {name}")
        else:
            items.append(name)
    return items


def _copy_options(fmt: str) -> str:
    if fmt == "parquet":
        return "format parquet, compression zstd"
    if fmt == "csv":
        return "format csv, header true, new_line '\r\n'"  # CRLF rows, as ml/csv_safety.py writes them
    return "format json, array true"  # one JSON array of objects, as `comptoir score` reads and writes .json


def _make_private(root: Path) -> None:
    """Owner only, whatever the caller's umask (DECISIONS.md "Private by default")."""
    os.chmod(root, PRIVATE_DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), PRIVATE_DIR_MODE)
        for name in files:
            os.chmod(os.path.join(folder, name), PRIVATE_FILE_MODE)


def _partition_key(year: object, month: object) -> str:
    if year is None:
        return f"year={NULL_PARTITION}/month={NULL_PARTITION}"
    return f"year={year}/month={month}"


def _fingerprints(con: duckdb.DuckDBPyConnection, table: BusinessTable, kept: list[TableColumn]
                  ) -> dict[str, dict[str, object]]:
    """Rows and fingerprint per partition (one entry, UNPARTITIONED, for an undated table): a sum of 64-bit row
    hashes, independent of the rows' order, so unchanged months are recognised without reading the old files."""
    row_hash = f"hash({', '.join(quote(column.name) for column in kept)})"
    source = f"{quote(table.schema)}.{quote(table.name)}"
    # The sums do not depend on the rows' order: every core may take part (the files are written with one).
    con.execute(f"set threads = {os.cpu_count() or 1}")
    try:
        rows = _fingerprint_rows(con, table, row_hash, source)
    finally:
        con.execute("set threads = 1")
    return {
        (UNPARTITIONED if year == UNPARTITIONED else _partition_key(year, month)):
            {"rows": int(count), "fingerprint": fingerprint}
        for year, month, count, fingerprint in rows
    }


def _fingerprint_rows(con: duckdb.DuckDBPyConnection, table: BusinessTable, row_hash: str, source: str
                      ) -> list[tuple]:
    if table.partition_column is None:
        return con.execute(f"select {_literal(UNPARTITIONED)}, null, count(*), cast(sum({row_hash}) as varchar) "
                           f"from {source}").fetchall()
    day = quote(table.partition_column)
    return con.execute(f"select year({day}), month({day}), count(*), cast(sum({row_hash}) as varchar) "
                       f"from {source} group by all").fetchall()


def _changed_months(day: str, keys: list[str]) -> str:
    """A WHERE condition selecting the rows of the partitions `keys` (Hive folder names) of date column `day`."""
    conditions = []
    months = [key for key in keys if NULL_PARTITION not in key]
    if months:
        numbers = ", ".join(str(int(key.split("/")[0][5:]) * 100 + int(key.split("/")[1][6:])) for key in months)
        conditions.append(f"year({day}) * 100 + month({day}) in ({numbers})")
    if len(months) < len(keys):
        conditions.append(f"{day} is null")
    return " or ".join(conditions)


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link every file of `source` into `target` (folders made): the old and new lake share the files."""
    for path in source.rglob("*"):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
            os.link(path, destination)


def _write_lake_table(con: duckdb.DuckDBPyConnection, table: BusinessTable, root: Path,
                      previous: dict[str, object] | None, previous_root: Path | None
                      ) -> tuple[LakeTable, dict[str, object]]:
    """Write `table` under `root`, keeping from `previous_root` the partitions `previous` (its manifest entry)
    shows unchanged. Returns the table's summary and its manifest entry."""
    kept_columns = [column for column in table.columns if not is_pii(column.name)]
    columns = ", ".join(_projection(kept_columns, "parquet"))
    source = f"{quote(table.schema)}.{quote(table.name)}"
    folder = private_dir(root / table.schema) / table.name  # DuckDB makes a partitioned COPY's folder itself
    partition = table.partition_column
    shape = {"columns": [[column.name, column.type] for column in kept_columns], "partition_column": partition}
    partitions = _fingerprints(con, table, kept_columns)
    reusable = previous_root is not None and previous is not None and all(
        previous.get(key) == value for key, value in shape.items())
    old_partitions: dict[str, object] = previous.get("partitions", {}) if reusable else {}  # type: ignore[union-attr,assignment]
    unchanged = [key for key, entry in partitions.items() if old_partitions.get(key) == entry]
    changed = [key for key in partitions if key not in unchanged]
    written = len(changed) if partitions else 1
    if changed and partition is not None:
        day = quote(partition)
        where = f" where {_changed_months(day, changed)}" if unchanged else ""
        con.execute(
            f"copy (select {columns}, year({day}) as year, month({day}) as month from {source}{where}) "
            f"to {_literal(str(folder))} ({_copy_options('parquet')}, partition_by (year, month))"
        )
    elif changed or not partitions:
        # Undated, or dated without a row: one file (with no row, it still gives readers the columns and types).
        folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        con.execute(f"copy (select {columns} from {source}) to {_literal(str(folder / 'data_0.parquet'))} "
                    f"({_copy_options('parquet')})")
    for key in unchanged:
        old = previous_root / table.schema / table.name  # type: ignore[operator]
        _link_tree(old / key if key != UNPARTITIONED else old, folder / key if key != UNPARTITIONED else folder)
    if not partitions and partition is not None:
        partitions = {UNPARTITIONED: {"rows": 0, "fingerprint": None}}
    files = sum(1 for _ in folder.rglob("*.parquet"))
    rows = sum(int(entry["rows"]) for entry in partitions.values())  # type: ignore[call-overload]
    summary = LakeTable(table.schema, table.name, rows, files, partition, table.personal_columns,
                        written=written, kept=len(unchanged))
    return summary, {**shape, "partitions": partitions}


def read_manifest(lake: Path) -> dict[str, dict[str, object]]:
    """The previous export's manifest (table → entry); empty when there is none or it cannot be read, which only
    means every table is written again."""
    try:
        manifest = json.loads((lake / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        return {}
    tables = manifest.get("tables")
    return tables if isinstance(tables, dict) else {}


def _lake_siblings(lake: Path) -> list[Path]:
    prefixes = tuple(f".{lake.name}{tag}" for tag in _LEFTOVER_TAGS)
    return [path for path in lake.parent.iterdir() if path.name.startswith(prefixes)] if lake.parent.is_dir() else []


def _owner_alive(path: Path) -> bool:
    """Whether the process that named this folder (`.lake.tmp-<pid>-<id>`) still runs."""
    try:
        pid = int(path.name.rsplit("-", 2)[-2])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False  # this process's own export ended (a failed one removes its folder; a killed one cannot be us)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_lake(lake: Path) -> list[Path]:
    """Tidy what a killed export left beside `lake`: put the previous lake back when the kill came between the
    two renames (no `lake`, an `.old-` folder), and delete the other folders of dead exports. Returns them."""
    leftovers = sorted((path for path in _lake_siblings(lake) if not _owner_alive(path)),
                       key=lambda path: path.stat().st_mtime)
    olds = [path for path in leftovers if f".{lake.name}.old-" in path.name]
    if not lake.exists() and olds:
        os.rename(olds[-1], lake)
        log.warning("put back the previous lake %s from %s (an export was interrupted)", lake, olds[-1].name)
        leftovers.remove(olds[-1])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    return leftovers


def _swap_in(new: Path, lake: Path) -> None:
    """Rename `new` to `lake`; the previous lake goes aside first and is deleted once the new one is in place."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex}"
    old = lake.with_name(f".{lake.name}.old-{tag}") if lake.exists() else None
    if old is not None:
        os.rename(lake, old)
    try:
        pause_point("lake")  # a fault-injection point: killed here, the next export puts the previous lake back
        os.rename(new, lake)
    except BaseException:
        if old is not None:
            os.rename(old, lake)
        raise
    fsync_dir(lake.parent)
    if old is not None:
        shutil.rmtree(old)


def export_lake(published: Path, lake: Path) -> LakeExport:
    """Write every business table of `published` under `lake` (layout in the module's docstring), atomically."""
    started = time.monotonic()
    private_dir(lake.parent)
    recover_lake(lake)
    staging = lake.with_name(f".{lake.name}.tmp-{os.getpid()}-{uuid.uuid4().hex}")
    private_dir(staging)
    previous = read_manifest(lake)
    previous_root = lake if previous else None
    try:
        with connect_published(published) as con:
            written = [_write_lake_table(con, table, staging, previous.get(table.qualified), previous_root)
                       for table in business_tables(con)]
        if not written:
            raise ExportError(f"{published} has no table in schema(s) {', '.join(BUSINESS_SCHEMAS)}: no lake written")
        tables = tuple(summary for summary, _ in written)
        manifest = {"version": MANIFEST_VERSION,
                    "tables": {f"{summary.schema}.{summary.name}": entry for summary, entry in written}}
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        _make_private(staging)
        size = sum(path.stat().st_size for path in staging.rglob("*.parquet"))
        _swap_in(staging, lake)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    result = LakeExport(lake, tables, size, time.monotonic() - started)
    log.info("lake %s: %d tables, %d files, %d rows (%.1f MB); %d partitions written, %d kept; %.1fs", lake,
             len(tables), result.files, result.rows, size / 1e6, result.written, result.kept, result.seconds)
    return result


def export_table(published: Path, qualified: str, fmt: str, out_dir: Path, *, include_pii: bool = False,
                 date_from: date | None = None, date_to: date | None = None) -> TableExport:
    """One business table as `out_dir/<schema>.<table>.<fmt>` (replaced atomically): the rows whose partition
    date lies in [date_from, date_to] when a bound is given, personal columns only with `include_pii`."""
    started = time.monotonic()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: {', '.join(FORMATS)}")
    if date_from and date_to and date_from > date_to:
        raise ExportError(f"the range is empty: from {date_from} is after to {date_to}")
    with connect_published(published) as con:
        table = find_table(con, qualified)
        left_out = () if include_pii else table.personal_columns
        kept = [column for column in table.columns if column.name not in left_out]
        if not kept:
            raise ExportError(f"{table.qualified} has only personal columns: --include-pii exports them")
        conditions = []
        date_column = None
        if date_from or date_to:
            date_column = table.partition_column
            if date_column is None:
                raise ExportError(
                    f"{table.qualified} has no date to filter on: --from/--to apply to tables with a DATE column "
                    f"named {', '.join(PARTITION_DATE_COLUMNS)}; export it whole"
                )
            if date_from:
                conditions.append(f"{quote(date_column)} >= date {_literal(date_from.isoformat())}")
            if date_to:
                conditions.append(f"{quote(date_column)} <= date {_literal(date_to.isoformat())}")
        where = f" where {' and '.join(conditions)}" if conditions else ""
        query = f"select {', '.join(_projection(kept, fmt))} from {quote(table.schema)}.{quote(table.name)}"
        private_dir(out_dir)
        target = out_dir / f"{table.qualified}.{fmt}"
        temporary = out_dir / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            row = con.execute(f"copy ({query}{where}) to {_literal(str(temporary))} ({_copy_options(fmt)})").fetchone()
            os.chmod(temporary, PRIVATE_FILE_MODE)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
    return TableExport(table.qualified, target, int(row[0]) if row else 0, fmt, tuple(left_out), date_column,
                       date_from, date_to, time.monotonic() - started)
