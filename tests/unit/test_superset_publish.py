"""Publishing: a finished build is copied beside the published file and renamed over it; a failed build
publishes nothing; readers of the previous copy are never disturbed."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, materialize

from orchestration.defs.publish.assets import PUBLISHED_KEY, build_publish_asset, upstream_keys
from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.resources import WarehouseResource
from orchestration.publish import PublishError, publish_warehouse
from orchestration.settings import Settings


def make_build(path: Path, revenue: float) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        con.execute(f"create or replace table marts.kpis as select {revenue}::double as revenue")
    return path


def read_revenue(path: Path) -> float:
    with duckdb.connect(str(path), read_only=True) as con:
        return float(con.execute("select revenue from marts.kpis").fetchone()[0])  # type: ignore[index]


def test_publish_copies_the_build_atomically(tmp_path: Path) -> None:
    build = make_build(tmp_path / "comptoir.duckdb", 1.0)
    target = tmp_path / "published" / "comptoir.duckdb"
    published = publish_warehouse(build, target)
    assert published.path == target and published.tables == 1
    assert read_revenue(target) == 1.0
    # Owner only, whatever the umask of the caller (this test's is the shell's): Superset runs as the same user.
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert sorted(os.listdir(target.parent)) == ["comptoir.duckdb", "published.json"]  # no temporary file left


def test_the_published_copy_indexes_the_customer_look_ups_and_the_build_file_stays_without(tmp_path: Path) -> None:
    build = make_build(tmp_path / "comptoir.duckdb", 1.0)
    with duckdb.connect(str(build)) as con:
        con.execute("create table marts.fct_orders as select 'O' || i as order_id, 'C' || (i % 7) as customer_id "
                    "from range(1000) as t(i)")
        con.execute("create view marts.dim_customers as select distinct customer_id from marts.fct_orders")
    target = tmp_path / "published" / "comptoir.duckdb"
    publish_warehouse(build, target)

    def indexes(path: Path) -> list[tuple[str, str, str]]:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute("select schema_name, table_name, expressions from duckdb_indexes()").fetchall()

    # the table is indexed; the view (and the ML tables this build lacks) are left alone
    assert indexes(target) == [("marts", "fct_orders", "[customer_id]")]
    assert indexes(build) == []
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_orders where customer_id = 'C3'").fetchone() == (143,)
    assert sorted(os.listdir(target.parent)) == ["comptoir.duckdb", "published.json"]  # no write-ahead log left


def test_a_reader_of_the_previous_copy_keeps_reading_it(tmp_path: Path) -> None:
    build = make_build(tmp_path / "comptoir.duckdb", 1.0)
    target = tmp_path / "published" / "comptoir.duckdb"
    publish_warehouse(build, target)
    with duckdb.connect(str(target), read_only=True) as reader:
        make_build(build, 2.0)
        publish_warehouse(build, target)
        assert reader.execute("select revenue from marts.kpis").fetchone() == (1.0,)
    assert read_revenue(target) == 2.0


def test_an_incomplete_build_is_not_published_and_the_previous_copy_stays(tmp_path: Path) -> None:
    target = tmp_path / "published" / "comptoir.duckdb"
    publish_warehouse(make_build(tmp_path / "good.duckdb", 1.0), target)
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(PublishError, match="no table in schema"):
        publish_warehouse(empty, target)
    with pytest.raises(PublishError, match="no warehouse"):
        publish_warehouse(tmp_path / "missing.duckdb", target)
    assert read_revenue(target) == 1.0
    assert sorted(os.listdir(target.parent)) == ["comptoir.duckdb", "published.json"]


def test_settings_place_the_published_file_in_the_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPTOIR_HOME", str(tmp_path))
    settings = Settings.from_env()
    assert settings.published_path == tmp_path / "published" / "comptoir.duckdb"
    assert settings.published_path != settings.warehouse_path


def test_a_failed_build_step_skips_publishing(tmp_path: Path, make_seeds: Callable[..., Path]) -> None:
    """A raw load that fails (required file missing): the publish asset does not run, the copy stays."""
    seeds = make_seeds({"orders.csv": None})
    target = tmp_path / "published" / "comptoir.duckdb"
    publish_warehouse(make_build(tmp_path / "previous.duckdb", 1.0), target)
    before = target.stat().st_mtime_ns
    publish = build_publish_asset(raw_assets, target)
    result = materialize(
        [*raw_assets, publish],
        resources={"warehouse": WarehouseResource(seeds_dir=str(seeds), database=str(tmp_path / "build.duckdb"))},
        raise_on_error=False,
    )
    assert not result.success
    assert not result.asset_materializations_for_node("published_warehouse")
    assert target.stat().st_mtime_ns == before and read_revenue(target) == 1.0


def test_publish_depends_on_every_other_asset_of_the_warehouse_job() -> None:
    from orchestration.definitions import WAREHOUSE_JOB_NAME, defs

    job_keys = set(defs.resolve_job_def(WAREHOUSE_JOB_NAME).asset_layer.asset_graph.get_all_asset_keys())
    graph = defs.resolve_asset_graph()
    definitions = [graph.get(key).assets_def for key in graph.get_all_asset_keys()]
    deps = set(upstream_keys(definitions))
    assert job_keys - {PUBLISHED_KEY} <= deps
    asset = build_publish_asset(definitions, Path("published.duckdb"))
    assert asset.key == PUBLISHED_KEY
    assert set(asset.asset_deps[PUBLISHED_KEY]) >= job_keys - {PUBLISHED_KEY}
    assert AssetKey(["marts", "mart_kpis"]) in deps
