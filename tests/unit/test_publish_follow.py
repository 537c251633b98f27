"""A publish leaves a fact (published.json); the Superset follower syncs once per publish, retries a failed sync."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.publish import fact_path, publish_warehouse, read_fact
from orchestration.superset import follow
from orchestration.superset.follow import PublishFollower


@pytest.fixture
def build_file(tmp_path: Path) -> Path:
    database = tmp_path / "comptoir.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema marts; create table marts.t as select 1 as x")
    return database


def test_a_publish_records_which_build_and_when(build_file: Path, tmp_path: Path) -> None:
    published = tmp_path / "published" / "comptoir.duckdb"
    assert read_fact(published) is None
    first = publish_warehouse(build_file, published, run_id="run-1")
    fact = read_fact(published)
    assert fact is not None and fact.run_id == "run-1" and fact.bytes == first.bytes and fact.tables == 1
    publish_warehouse(build_file, published)  # by hand: no run
    again = read_fact(published)
    assert again is not None and again.run_id is None and again.published_at >= fact.published_at
    assert fact_path(published).stat().st_mode & 0o077 == 0  # owner only, like the file it describes
    fact_path(published).write_text("{not json", encoding="utf-8")
    assert read_fact(published) is None  # a garbled fact reads as no publish, never as an error


def test_the_follower_syncs_once_per_publish(build_file: Path, tmp_path: Path) -> None:
    published = tmp_path / "published" / "comptoir.duckdb"
    syncs: list[str | None] = []
    follower = PublishFollower(published, lambda: syncs.append(read_fact(published).run_id))  # type: ignore[union-attr]
    assert not follower.check()  # nothing published yet
    publish_warehouse(build_file, published, run_id="run-1")
    assert follower.check() and not follower.check()
    publish_warehouse(build_file, published, run_id="run-2")
    assert follower.check() and not follower.check()
    assert syncs == ["run-1", "run-2"] and follower.syncs == 2


def test_a_failed_sync_is_retried_later(build_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    published = tmp_path / "published" / "comptoir.duckdb"
    attempts: list[int] = []

    def flaky() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("Superset is restarting")

    follower = PublishFollower(published, flaky)
    publish_warehouse(build_file, published, run_id="run-1")
    assert not follower.check() and follower.synced is None  # failed, logged, not raised
    assert not follower.check() and len(attempts) == 1  # not hammered: waits RETRY_SECONDS
    monkeypatch.setattr(follow, "RETRY_SECONDS", 0.0)
    assert follower.check() and follower.synced == read_fact(published) and len(attempts) == 2
