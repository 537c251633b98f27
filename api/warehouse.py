"""The published warehouse, followed: each published file version gets its own read-only DuckDB database.

Builds publish by renaming a finished copy over ``published/comptoir.duckdb`` and then writing ``published.json``
(orchestration/publish.py). A request takes the current :class:`Snapshot` (a cursor on the version it found) and
keeps it to the end, so it finishes on the file it started on, even if a publish lands meanwhile; the next request
sees the new file. A version no request holds any more is closed.

Each version is an in-memory DuckDB database that ATTACHes the file read-only: ``duckdb.connect(path)`` would
hand back the database already open for that path (DuckDB caches instances by path), that is the old file's.

A published file never changes (a build publishes a new one), so each version keeps the results of the queries
it answered, keyed by SQL and parameters (bounded, least recently used first out): the dashboards' default
ranges and a CRM asking for the same KPIs again cost a dictionary look-up. The next version starts empty.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestration.publish import PublishedFact, read_fact

log = logging.getLogger(__name__)

CATALOG = "comptoir"
# Per version: a small memory budget and few threads, the API's queries read marts at their grain.
VERSION_CONFIG = {"memory_limit": "1GB", "threads": "2"}
# Per version: results kept, and the largest result kept (an order-search page is at most 501 rows).
CACHED_RESULTS = 4096
CACHED_ROWS_MAX = 1000

Rows = list[dict[str, Any]]


class ResultCache:
    """Query results of one published version, least recently used out first; safe across request threads."""

    def __init__(self, capacity: int = CACHED_RESULTS, max_rows: int = CACHED_ROWS_MAX) -> None:
        self.capacity = capacity
        self.max_rows = max_rows
        self._results: OrderedDict[tuple[str, tuple[Any, ...]], Rows] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, tuple[Any, ...]]) -> Rows | None:
        with self._lock:
            found = self._results.get(key)
            if found is not None:
                self._results.move_to_end(key)
        # callers may change the dicts they get (e.g. strip personal columns): hand out copies
        return None if found is None else [dict(row) for row in found]

    def put(self, key: tuple[str, tuple[Any, ...]], rows: Rows) -> None:
        if self.capacity == 0 or len(rows) > self.max_rows:
            return
        with self._lock:
            self._results[key] = [dict(row) for row in rows]
            self._results.move_to_end(key)
            while len(self._results) > self.capacity:
                self._results.popitem(last=False)


class NotPublishedError(RuntimeError):
    """Nothing has been published yet (no build finished)."""


@dataclass
class _Version:
    stamp: tuple[int, int, int | None]
    database: duckdb.DuckDBPyConnection
    fact: PublishedFact | None
    cache: ResultCache = field(default_factory=ResultCache)
    users: int = 0
    retired: bool = False


class Snapshot:
    """One request's view of the warehouse: a cursor on one published version."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, fact: PublishedFact | None,
                 cache: ResultCache | None = None) -> None:
        self.cursor = cursor
        self.fact = fact
        self.cache = cache or ResultCache(capacity=0)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """The query's rows as dicts; values are bound parameters, never formatted into the SQL."""
        key = (sql, tuple(params))
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        result = self.cursor.execute(sql, list(params))
        columns = [column[0] for column in result.description or []]
        found = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        self.cache.put(key, found)
        return found

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def has_table(self, schema: str, table: str) -> bool:
        return bool(self.rows(
            "select 1 from information_schema.tables where table_catalog = ? and table_schema = ? and table_name = ?",
            [CATALOG, schema, table]))


class PublishedWarehouse:
    """Follows ``published_path``: a version per published file, opened at the first request that sees it."""

    def __init__(self, published_path: Path) -> None:
        self.path = published_path
        self._lock = threading.Lock()
        self._current: _Version | None = None

    def _stamp(self) -> tuple[int, int, int | None] | None:
        """Which file is published now: its inode and mtime, and the fact's mtime (the fact follows the rename)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        try:
            fact_mtime: int | None = self.path.with_name("published.json").stat().st_mtime_ns
        except FileNotFoundError:
            fact_mtime = None
        return (stat.st_ino, stat.st_mtime_ns, fact_mtime)

    def _open(self, stamp: tuple[int, int, int | None]) -> _Version:
        database = duckdb.connect(":memory:", config=VERSION_CONFIG)
        try:
            # A path is a value we cannot bind in ATTACH: quote it as a SQL string literal.
            literal = "'" + str(self.path).replace("'", "''") + "'"
            database.execute(f"attach {literal} as {CATALOG} (read_only)")
        except BaseException:
            database.close()
            raise
        version = _Version(stamp=stamp, database=database, fact=read_fact(self.path))
        log.info("API reading the published warehouse of %s", version.fact.published_at if version.fact else "?")
        return version

    def _release(self, version: _Version) -> None:
        with self._lock:
            version.users -= 1
            close = version.retired and version.users == 0
        if close:
            version.database.close()

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        stamp = self._stamp()
        if stamp is None:
            raise NotPublishedError(f"no published warehouse at {self.path}: run `comptoir build` first")
        with self._lock:
            current = self._current
            if current is None or current.stamp != stamp:
                fresh = self._open(stamp)
                if current is not None:
                    current.retired = True
                    if current.users == 0:
                        current.database.close()
                self._current = current = fresh
            current.users += 1
        try:
            cursor = current.database.cursor()
        except BaseException:
            self._release(current)
            raise
        try:
            cursor.execute(f"use {CATALOG}")
            yield Snapshot(cursor, current.fact, current.cache)
        finally:
            cursor.close()
            self._release(current)

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.retired = True
                if self._current.users == 0:
                    self._current.database.close()
                self._current = None
