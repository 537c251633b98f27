"""Publish a finished warehouse: a complete copy written beside the published file, then renamed over it.

Dashboards read the published file, never the one a build writes (DuckDB: a read-write connection locks
the file against every reader). os.replace is atomic within a folder, so a reader opens either the previous
copy or the new one, never half a file; a reader that already has the previous copy open keeps reading it.
Plain Python and DuckDB, no Dagster: the Dagster asset, `comptoir superset publish` and the tests call it.

Each publish also leaves a fact beside the file, `published.json` (which build, when, how big): whoever serves
the published warehouse (the Superset follower of `comptoir serve`, `comptoir superset follow`) watches it and
reacts, so the build never reaches into the servers.
"""

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.faults import pause_point
from orchestration.settings import PRIVATE_FILE_MODE, private_dir, write_private_atomically

log = logging.getLogger(__name__)

# A copy must hold these schemas before it replaces the published file.
REQUIRED_SCHEMAS = ("marts",)
FACT_FILE = "published.json"

# Look-up keys indexed in the published copy (DECISIONS.md "Indexes in the published warehouse"): the API reads one
# customer at a time from these tables, and an ART index answers that in about a millisecond where a scan of
# every order costs ~70 ms at 10 M lines. Indexed on the copy, never in the build file: dbt-duckdb's table
# materialization renames tables to a backup while it rebuilds them, which a table with an index refuses.
LOOKUP_INDEXES = (
    ("marts", "fct_orders", "customer_id"),
    ("marts", "dim_customers", "customer_id"),
    ("marts", "mart_customer_rfm", "customer_id"),
    ("ml", "customer_scores", "customer_id"),
    ("ml", "customer_segments", "customer_id"),
    ("ml", "customer_clv", "customer_id"),
)


class PublishError(RuntimeError):
    """The build file cannot be published (missing, incomplete, or the copy failed its check)."""


@dataclass(frozen=True)
class Published:
    path: Path
    bytes: int
    seconds: float
    tables: int


@dataclass(frozen=True)
class PublishedFact:
    """What the last publish left beside the published file: the build (a Dagster run id, or None for a
    `comptoir superset publish` by hand) and when it was published. Equal facts mean the same publish."""

    run_id: str | None
    published_at: str  # ISO 8601, UTC
    bytes: int
    tables: int


def fact_path(published: Path) -> Path:
    return published.with_name(FACT_FILE)


def read_fact(published: Path) -> PublishedFact | None:
    """The fact of the last publish of `published`, or None when nothing was published (or the fact is garbled)."""
    try:
        payload = json.loads(fact_path(published).read_text(encoding="utf-8"))
        return PublishedFact(**payload)
    except (OSError, ValueError, TypeError):
        return None


def _write_fact(published: Published, run_id: str | None) -> PublishedFact:
    fact = PublishedFact(run_id=run_id, published_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                         bytes=published.bytes, tables=published.tables)
    # Atomic: a watcher reads the previous fact or this one.
    write_private_atomically(fact_path(published.path), json.dumps(asdict(fact), indent=1) + "\n")
    return fact


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the folder's entry list on disk)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint(database: Path) -> None:
    """Fold the write-ahead log into the main file, so the file alone is the whole warehouse."""
    with duckdb.connect(str(database)) as con:
        con.execute("checkpoint")
    wal = database.with_name(database.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        raise PublishError(f"{wal} still holds unwritten changes after a checkpoint: is another process writing?")


def index_lookup_keys(path: Path) -> list[str]:
    """Create LOOKUP_INDEXES' indexes in the copy at `path` (the tables it has; the ML ones may be missing), then
    checkpoint; returns the indexes made."""
    made = []
    with duckdb.connect(str(path)) as con:
        present = {(str(schema), str(table), str(column)) for schema, table, column in con.execute("""
            select columns.schema_name, columns.table_name, columns.column_name
            from duckdb_columns() as columns
            join duckdb_tables() as tables using (database_name, schema_name, table_name)
            where columns.database_name = current_database()""").fetchall()}
        for schema, table, column in LOOKUP_INDEXES:
            if (schema, table, column) in present:
                name = f"{table}__{column}"
                con.execute(f'create index if not exists "{name}" on "{schema}"."{table}" ("{column}")')
                made.append(f"{schema}.{table}({column})")
        con.execute("checkpoint")
    return made


def _check_copy(path: Path) -> int:
    """Open the copy read-only and count its tables; refuse one without the schemas dashboards read."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select table_schema, count(*) from information_schema.tables group by table_schema"
        ).fetchall()
    tables = {str(schema): int(count) for schema, count in rows}
    missing = [schema for schema in REQUIRED_SCHEMAS if not tables.get(schema)]
    if missing:
        raise PublishError(f"the build has no table in schema(s) {', '.join(missing)}: nothing to publish")
    return sum(tables.values())


def publish_warehouse(source: Path, target: Path, run_id: str | None = None) -> Published:
    """Copy the finished build `source` to `target` atomically (temporary file in target's folder, fsync, rename),
    then record the fact (`published.json`: `run_id`, the time) for whoever serves it."""
    started = time.monotonic()
    if not source.exists():
        raise PublishError(f"no warehouse to publish at {source}")
    checkpoint(source)
    private_dir(target.parent)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp_path = Path(temporary)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out, length=16 * 1024 * 1024)
        indexes = index_lookup_keys(tmp_path)
        with tmp_path.open("rb+") as written:
            os.fsync(written.fileno())
        tables = _check_copy(tmp_path)
        # Owner only, like the build file: it holds names, e-mails and addresses, and Superset, the one reader,
        # runs as the same user (started by `comptoir serve`; in docker-compose.yml both containers run as root).
        os.chmod(tmp_path, PRIVATE_FILE_MODE)
        pause_point("publish")  # a fault-injection test kills the build here: the copy written, not yet renamed
        os.replace(tmp_path, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    published = Published(target, target.stat().st_size, time.monotonic() - started, tables)
    _write_fact(published, run_id)
    log.info("published %s (%d bytes, %d tables, indexed %s) in %.1fs", target, published.bytes, tables,
             ", ".join(indexes) or "nothing", published.seconds)
    return published
