"""The API's result cache: per published version, bounded, and never stale after a publish."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from api.warehouse import PublishedWarehouse, ResultCache


def _publish(published: Path, revenue: int) -> None:
    """Write a finished file beside the published one and rename it over, as a build publishes."""
    staged = published.with_name("staged.duckdb")
    staged.unlink(missing_ok=True)
    with duckdb.connect(str(staged)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.kpis as select ? as revenue", [revenue])
    os.replace(staged, published)


def test_a_result_is_served_again_from_the_cache_and_evicted_least_recently_used() -> None:
    cache = ResultCache(capacity=2, max_rows=3)
    cache.put(("a", ()), [{"x": 1}])
    cache.put(("b", ()), [{"x": 2}])
    assert cache.get(("a", ())) == [{"x": 1}]  # "a" is now the most recently used
    cache.put(("c", ()), [{"x": 3}])
    assert cache.get(("b", ())) is None and cache.get(("a", ())) == [{"x": 1}]
    cache.put(("big", ()), [{"x": n} for n in range(4)])
    assert cache.get(("big", ())) is None


def test_callers_get_copies() -> None:
    cache = ResultCache()
    cache.put(("q", (1,)), [{"name": "Ada", "email": "ada@example.com"}])
    first = cache.get(("q", (1,)))
    assert first is not None
    first[0].pop("email")
    assert cache.get(("q", (1,))) == [{"name": "Ada", "email": "ada@example.com"}]


def test_a_new_publish_is_never_answered_from_the_old_versions_cache(tmp_path: Path) -> None:
    published = tmp_path / "published" / "comptoir.duckdb"
    published.parent.mkdir()
    _publish(published, 100)
    warehouse = PublishedWarehouse(published)
    try:
        sql = "select revenue from marts.kpis"
        with warehouse.snapshot() as snapshot:
            assert snapshot.rows(sql) == [{"revenue": 100}]
        with warehouse.snapshot() as snapshot:
            assert snapshot.cache.get((sql, ())) == [{"revenue": 100}]
        _publish(published, 250)
        with warehouse.snapshot() as snapshot:
            assert snapshot.rows(sql) == [{"revenue": 250}]
    finally:
        warehouse.close()
