"""Multi-file sources and incremental raw loads: only new or changed files are (re)loaded.

Every test loads a landing folder, changes it, loads again, and checks the raw table, the rejects,
raw.load_files (current state) and raw.load_log (actions) against what was written to the folder.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance, build_sensor_context, materialize

from orchestration.contract import CUSTOMERS, INVENTORY, ORDERS, PRODUCTS, SOURCES
from orchestration.defs.dbt.sensors import build_landing_sensor
from orchestration.defs.raw.assets import raw_assets
from orchestration.defs.resources import WarehouseResource
from orchestration.raw_load import (
    REASON_BROKEN_QUOTING,
    Action,
    RawFileError,
    file_checksum,
    load_all,
    load_source,
)
from tests.conftest import ORDERS_HEADER, write_products

T1 = datetime(2026, 1, 1, 12, 0, 0)
T2 = datetime(2026, 1, 2, 12, 0, 0)
T3 = datetime(2026, 1, 3, 12, 0, 0)


def line(order: str, address: str = "x") -> str:
    return f"{order},1,C1,P1,1,9.99,2024-03-01T10:00:00,completed,{address}"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def rows(con: duckdb.DuckDBPyConnection, table: str = "orders") -> list[tuple]:
    return con.execute(
        f"select _source_file, _line_number, {'order_id, ' if table == 'orders' else ''}_loaded_at "
        f"from raw.{table} order by 1, 2"
    ).fetchall()


def rejects(con: duckdb.DuckDBPyConnection, source: str = "orders") -> list[tuple]:
    return con.execute(
        "select source_file, line_number, reason, loaded_at from raw.load_rejects where source = ? order by 1, 2",
        [source],
    ).fetchall()


def files(con: duckdb.DuckDBPyConnection, source: str = "orders") -> dict[str, tuple]:
    state = con.execute(
        """select source_file, sha256, size_bytes, lines, rows_loaded, rows_rejected, loaded_at
           from raw.load_files where source = ? order by 1""",
        [source],
    ).fetchall()
    return {r[0]: r[1:] for r in state}


def actions(con: duckdb.DuckDBPyConnection, loaded_at: datetime, source: str = "orders") -> dict[str, tuple]:
    logged = con.execute(
        "select source_file, action, rows_loaded, rows_rejected from raw.load_log where source = ? and loaded_at = ?",
        [source, loaded_at],
    ).fetchall()
    return {r[0]: r[1:] for r in logged}


def content(con: duckdb.DuckDBPyConnection, source: str = "orders") -> tuple[list[tuple], list[tuple]]:
    """The source's rows and rejects without load times: what a load from scratch must also give."""
    columns = ", ".join(f'"{c}"' for c in [*ORDERS.column_names, "_source_file", "_line_number"])
    table = con.execute(f"select {columns} from raw.orders order by _source_file, _line_number").fetchall()
    rejected = con.execute(
        "select source_file, line_number, raw_line, reason from raw.load_rejects where source = ? order by 1, 2",
        [source],
    ).fetchall()
    return table, rejected


def from_scratch(folder: Path) -> tuple[list[tuple], list[tuple]]:
    fresh = duckdb.connect()
    load_source(fresh, ORDERS, folder, T3)
    return content(fresh)


def write_lines(path: Path, lines: list[str], end: str = "\n") -> None:
    path.write_text("\n".join(lines) + end)


def test_unchanged_files_are_skipped_and_keep_their_load_time(con, make_seeds) -> None:
    folder = make_seeds({"orders_2025-12-31.csv": "\n".join([ORDERS_HEADER, line("O7")]) + "\n"})
    load_all(con, folder, T1)
    before = {s.name: con.execute(f"select * from raw.{s.name} order by all").fetchall() for s in SOURCES}
    state = files(con)
    results = load_all(con, folder, T2)
    assert {s.name: con.execute(f"select * from raw.{s.name} order by all").fetchall() for s in SOURCES} == before
    assert files(con) == state and {f[-1] for f in state.values()} == {T1}
    assert all(f.action is Action.UNCHANGED for r in results for f in r.files)
    assert not any(r.history_rewritten for r in results)
    assert actions(con, T2) == {"orders.csv": ("unchanged", 0, 0), "orders_2025-12-31.csv": ("unchanged", 0, 0)}
    assert actions(con, T1) == {"orders.csv": ("new", 3, 0), "orders_2025-12-31.csv": ("new", 1, 0)}


def test_a_new_file_is_appended_in_name_order(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, ORDERS, folder, T1)
    write_lines(folder / "orders_2025-12-31.csv", [ORDERS_HEADER, line("O8"), line("O9", '"broken')])
    (folder / "orders_2025-12-31.csv.part").write_text("not a landing file yet")
    (folder / "orders-old.csv").write_text("not this source's pattern")
    result = load_source(con, ORDERS, folder, T2)
    assert [(f.name, f.action) for f in result.files] == [
        ("orders.csv", Action.UNCHANGED), ("orders_2025-12-31.csv", Action.NEW)
    ]
    assert rows(con) == [
        ("orders.csv", 2, "O1", T1), ("orders.csv", 3, "O1", T1), ("orders.csv", 4, "O2", T1),
        ("orders_2025-12-31.csv", 2, "O8", T2),
    ]
    assert rejects(con) == [("orders_2025-12-31.csv", 3, REASON_BROKEN_QUOTING, T2)]
    assert (result.rows_loaded, result.rows_rejected, result.history_rewritten) == (4, 1, False)
    assert actions(con, T2)["orders_2025-12-31.csv"] == ("new", 1, 1)
    new = files(con)["orders_2025-12-31.csv"]
    assert new == (file_checksum(folder / "orders_2025-12-31.csv"), (folder / "orders_2025-12-31.csv").stat().st_size,
                   3, 1, 1, T2)


def test_a_source_may_be_only_tagged_files(con, make_seeds) -> None:
    folder = make_seeds({"orders.csv": None, "orders_b.csv": f"{ORDERS_HEADER}\n{line('B1')}\n",
                         "orders_a.csv": f"{ORDERS_HEADER}\n{line('A1')}\n"})
    result = load_source(con, ORDERS, folder, T1)
    assert [f.name for f in result.files] == ["orders_a.csv", "orders_b.csv"]
    assert [r[:3] for r in rows(con)] == [("orders_a.csv", 2, "A1"), ("orders_b.csv", 2, "B1")]


def test_a_grown_file_loads_only_its_new_lines(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, ORDERS, folder, T1)
    path = folder / "orders.csv"
    with path.open("a") as handle:
        handle.write(line("O3") + "\n" + line("O4", '"open') + "\n")
    result = load_source(con, ORDERS, folder, T2)
    assert [(f.name, f.action, f.rows_added, f.rejects_added) for f in result.files] == [
        ("orders.csv", Action.APPENDED, 1, 1)
    ]
    assert rows(con) == [
        ("orders.csv", 2, "O1", T1), ("orders.csv", 3, "O1", T1), ("orders.csv", 4, "O2", T1),
        ("orders.csv", 5, "O3", T2),
    ]
    assert rejects(con) == [("orders.csv", 6, REASON_BROKEN_QUOTING, T2)]
    assert files(con)["orders.csv"] == (file_checksum(path), path.stat().st_size, 6, 4, 1, T2)
    assert actions(con, T2) == {"orders.csv": ("appended", 1, 1)}
    assert not result.history_rewritten
    assert content(con) == from_scratch(folder)


def test_a_grown_file_whose_last_line_was_unfinished_is_replaced(con, make_seeds) -> None:
    folder = make_seeds({"orders.csv": f"{ORDERS_HEADER}\n{line('O1')}\n{line('O2', 'Rue')}"})
    load_source(con, ORDERS, folder, T1)
    with (folder / "orders.csv").open("a") as handle:
        handle.write(" de la Paix\n" + line("O3") + "\n")  # completes line 3, then line 4
    result = load_source(con, ORDERS, folder, T2)
    assert result.files[0].action is Action.REPLACED and result.history_rewritten
    address = con.execute("select shipping_address from raw.orders where order_id = 'O2'").fetchone()
    assert address == ("Rue de la Paix",)
    assert content(con) == from_scratch(folder)


def test_a_grown_file_that_closes_an_open_record_is_replaced(con, make_seeds) -> None:
    """The old last line opened a quoted field the appended line closes: appending alone would
    differ from loading the whole file, so the file is reloaded."""
    folder = make_seeds({"orders.csv": f'{ORDERS_HEADER}\n{line("O1")}\n{line("O2", chr(34) + "Rue")}\n'})
    load_source(con, ORDERS, folder, T1)
    assert rejects(con) == [("orders.csv", 3, REASON_BROKEN_QUOTING, T1)]
    with (folder / "orders.csv").open("a") as handle:
        handle.write('de la Paix"\n' + line("O3") + "\n")
    result = load_source(con, ORDERS, folder, T2)
    assert result.files[0].action is Action.REPLACED
    address = con.execute("select shipping_address from raw.orders where order_id = 'O2'").fetchone()
    assert address == ("Rue\nde la Paix",)
    assert rejects(con) == []
    assert content(con) == from_scratch(folder)


def test_a_changed_file_is_replaced_and_the_others_kept(con, make_seeds) -> None:
    folder = make_seeds({"orders_2025.csv": f"{ORDERS_HEADER}\n{line('O7')}\n{line('O8', chr(34))}\n"})
    load_source(con, ORDERS, folder, T1)
    write_lines(folder / "orders_2025.csv", [ORDERS_HEADER, line("O7", "changed"), line("O8"), line("O9")])
    result = load_source(con, ORDERS, folder, T2)
    assert result.actions == {"orders.csv": "unchanged", "orders_2025.csv": "replaced"}
    assert result.history_rewritten
    assert rows(con) == [
        ("orders.csv", 2, "O1", T1), ("orders.csv", 3, "O1", T1), ("orders.csv", 4, "O2", T1),
        ("orders_2025.csv", 2, "O7", T2), ("orders_2025.csv", 3, "O8", T2), ("orders_2025.csv", 4, "O9", T2),
    ]
    assert rejects(con) == []
    assert actions(con, T2) == {"orders.csv": ("unchanged", 0, 0), "orders_2025.csv": ("replaced", 3, 0)}
    assert content(con) == from_scratch(folder)


def test_a_removed_file_has_its_rows_and_rejects_deleted(con, make_seeds) -> None:
    folder = make_seeds({"orders_2025.csv": f"{ORDERS_HEADER}\n{line('O7')}\n{line('O8', chr(34))}\n"})
    load_source(con, ORDERS, folder, T1)
    (folder / "orders_2025.csv").unlink()
    result = load_source(con, ORDERS, folder, T2)
    assert result.actions == {"orders.csv": "unchanged", "orders_2025.csv": "removed"}
    assert result.history_rewritten and not result.files[1].sha256
    assert {r[0] for r in rows(con)} == {"orders.csv"} and rejects(con) == []
    assert list(files(con)) == ["orders.csv"]
    assert actions(con, T2)["orders_2025.csv"] == ("removed", 0, 0)


def test_a_full_refresh_reloads_every_file(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, ORDERS, folder, T1)
    result = load_source(con, ORDERS, folder, T2, full_refresh=True)
    assert result.actions == {"orders.csv": "replaced"} and result.history_rewritten
    assert {r[-1] for r in rows(con)} == {T2} and files(con)["orders.csv"][-1] == T2


def test_a_failed_load_keeps_the_table_and_its_file_state(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, ORDERS, folder, T1)
    snapshot = (rows(con), rejects(con), files(con), con.execute("select * from raw.load_log").fetchall())
    with (folder / "orders.csv").open("a") as handle:
        handle.write(line("O3") + "\n")
    (folder / "orders_bad.csv").write_text("order_id,quantity\nO9,1\n")
    with pytest.raises(RawFileError, match=r"^orders_bad.csv: missing required column\(s\) line_number"):
        load_source(con, ORDERS, folder, T2)
    assert (rows(con), rejects(con), files(con), con.execute("select * from raw.load_log").fetchall()) == snapshot


def test_a_required_source_without_any_file_fails_naming_the_pattern(con, make_seeds) -> None:
    folder = make_seeds({"orders.csv": None})
    (folder / "orders.txt").write_text("x")
    with pytest.raises(RawFileError) as raised:
        load_source(con, ORDERS, folder, T1)
    assert str(raised.value).startswith(
        f"orders.csv: required source file is missing from {folder} (expected orders.csv or orders_<tag>.csv;"
    )


def test_an_optional_source_can_come_and_go(con, make_seeds) -> None:
    folder = make_seeds()
    assert not load_source(con, INVENTORY, folder, T1).present
    (folder / "inventory_w1.csv").write_text("product_id,warehouse_id,stock_quantity,last_updated\nP1,W1,3,x\n")
    assert load_source(con, INVENTORY, folder, T2).actions == {"inventory_w1.csv": "new"}
    assert rows(con, "inventory") == [("inventory_w1.csv", 2, T2)]
    (folder / "inventory_w1.csv").unlink()
    result = load_source(con, INVENTORY, folder, T3)
    assert result.actions == {"inventory_w1.csv": "removed"} and not result.present
    assert rows(con, "inventory") == []
    columns = [r[0] for r in con.execute("describe raw.inventory").fetchall()]
    assert columns == [*INVENTORY.column_names, "_source_file", "_line_number", "_loaded_at"]


def test_parquet_sources_follow_the_same_file_pattern(con, make_seeds) -> None:
    folder = make_seeds()
    more = folder / "products_2026.parquet"
    write_products(more, [{"product_id": "P3", "name": "Cup", "category": "Home", "brand": None,
                           "price": Decimal("3.00"), "cost": None}])
    result = load_source(con, PRODUCTS, folder, T1)
    assert result.actions == {"products.parquet": "new", "products_2026.parquet": "new"}
    assert con.execute("select product_id, _source_file, _line_number from raw.products order by 1").fetchall() == [
        ("P1", "products.parquet", 1), ("P2", "products.parquet", 2), ("P3", "products_2026.parquet", 1)
    ]
    write_products(more, [{"product_id": "P4", "name": "Cup", "category": "Home", "brand": None,
                           "price": Decimal("4.00"), "cost": None}])
    result = load_source(con, PRODUCTS, folder, T2)
    assert result.actions == {"products.parquet": "unchanged", "products_2026.parquet": "replaced"}
    assert con.execute("select product_id, _loaded_at from raw.products order by 1").fetchall() == [
        ("P1", T1), ("P2", T1), ("P4", T2)
    ]


def test_a_table_loaded_before_file_tracking_is_rewritten_once(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, ORDERS, folder, T1)
    con.execute("drop table raw.load_files")  # as a warehouse built by the earlier loader
    con.execute("insert into raw.load_rejects values ('orders', 'orders_gone.csv', 2, 'x', 'blank line', ?)", [T1])
    result = load_source(con, ORDERS, folder, T2)
    assert result.actions == {"orders.csv": "replaced", "orders_gone.csv": "removed"}
    assert {r[-1] for r in rows(con)} == {T2} and rejects(con) == []
    assert load_source(con, ORDERS, folder, T3).actions == {"orders.csv": "unchanged"}


def test_ndjson_appends_only_new_lines(con, make_seeds) -> None:
    folder = make_seeds()
    load_source(con, CUSTOMERS, folder, T1)
    with (folder / "customers.json").open("a") as handle:
        handle.write('{"customer_id": "C2", "registration_date": "2024-01-01"}\n[1]\n')
    result = load_source(con, CUSTOMERS, folder, T2)
    assert result.actions == {"customers.json": "appended"}
    assert con.execute("select customer_id, _line_number, _loaded_at from raw.customers order by 2").fetchall() == [
        ("C1", 1, T1), ("C2", 2, T2)
    ]
    assert rejects(con, "customers") == [("customers.json", 3, "not a JSON object", T2)]


# --- Dagster: the asset's metadata and the sensor ----------------------------------------------


def _metadata(result, source: str) -> dict[str, object]:
    materialization = result.asset_materializations_for_node(f"raw__{source}")[0]
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}


def test_the_raw_asset_reports_each_files_action_and_whether_history_was_rewritten(make_seeds, tmp_path) -> None:
    folder = make_seeds()
    resources = {"warehouse": WarehouseResource(seeds_dir=str(folder), database=str(tmp_path / "w.duckdb"))}
    orders = [a for a in raw_assets if AssetKey(["raw", "orders"]) in a.keys]
    first = _metadata(materialize(orders, resources=resources), "orders")
    assert first["files"]["orders.csv"]["action"] == "new" and first["history_rewritten"] is False
    (folder / "orders_2025.csv").write_text(f"{ORDERS_HEADER}\n{line('O9')}\n")
    second = _metadata(materialize(orders, resources=resources), "orders")
    assert {n: f["action"] for n, f in second["files"].items()} == {"orders.csv": "unchanged", "orders_2025.csv": "new"}
    assert (second["rows_loaded"], second["rows_added"], second["history_rewritten"]) == (4, 1, False)
    (folder / "orders_2025.csv").unlink()
    full_refresh = {"ops": {"raw__orders": {"config": {"full_refresh": True}}}}
    meta = _metadata(materialize(orders, resources=resources, run_config=full_refresh), "orders")
    expected = {"orders.csv": "replaced", "orders_2025.csv": "removed"}
    assert {n: f["action"] for n, f in meta["files"].items()} == expected
    assert meta["history_rewritten"] is True and meta["sha256"] == file_checksum(folder / "orders.csv")


def _age(*paths: Path, seconds: int = 120) -> None:
    past = time.time_ns() - seconds * 1_000_000_000
    for path in paths:
        for file in path.iterdir() if path.is_dir() else [path]:
            os.utime(file, ns=(past, past))


def test_the_sensor_watches_every_file_of_a_source(make_seeds, tmp_path: Path) -> None:
    folder = make_seeds({"orders.csv": None, "orders_2025.csv": f"{ORDERS_HEADER}\n{line('O1')}\n"})
    _age(folder)
    resources = {"warehouse": WarehouseResource(seeds_dir=str(folder), database=str(tmp_path / "w.duckdb"))}
    with DagsterInstance.ephemeral() as instance:
        assert materialize(raw_assets, instance=instance, resources=resources).success
        sensor = build_landing_sensor(folder, "job")
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=None))
        assert first.run_requests == [] and first.cursor  # the files the last load read
        (folder / "orders_2026.csv").write_text(f"{ORDERS_HEADER}\n{line('O2')}\n")
        _age(folder / "orders_2026.csv")
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=first.cursor))
        assert [r.tags["comptoir/changed_files"] for r in tick.run_requests] == ["orders_2026.csv"]


def test_a_file_that_changes_during_its_load_fails_the_load(con, make_seeds, monkeypatch) -> None:
    """A writer appends while the file is read: the checksum would not describe what was loaded."""
    import orchestration.raw_load as raw_load

    folder = make_seeds()
    load_source(con, ORDERS, folder, T1)
    snapshot = (rows(con), files(con))
    (folder / "orders.csv").write_text(f"{ORDERS_HEADER}\n{line('O4')}\n")
    real = raw_load._fingerprint

    def fingerprint_then_append(path: Path, prefix_size: int | None):
        found = real(path, prefix_size)
        with path.open("a") as handle:
            handle.write(line("O5") + "\n")
        return found

    monkeypatch.setattr(raw_load, "_fingerprint", fingerprint_then_append)
    with pytest.raises(RawFileError, match=r"^orders.csv: the file changed while it was being loaded"):
        load_source(con, ORDERS, folder, T2)
    assert (rows(con), files(con)) == snapshot
