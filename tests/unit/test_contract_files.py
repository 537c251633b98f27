"""A source's landing files: `<stem>.<ext>` and `<stem>_<tag>.<ext>`, in name order."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.contract import CUSTOMERS, ORDERS, PRODUCTS, WEB_SESSIONS


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("orders.csv", True), ("orders_2025-12-31.csv", True), ("orders_a.b_c-d.csv", True), ("orders_X9.csv", True),
        ("orders_.csv", False), ("orders-2025.csv", False), ("orders.csv.part", False), ("orders_x.csv.tmp", False),
        ("orders.CSV", False), ("Orders.csv", False), ("orders_a b.csv", False), ("orders_x.json", False),
        ("ordersx.csv", False), ("xorders.csv", False),
    ],
)
def test_a_source_matches_its_base_file_and_tagged_files(name: str, matches: bool) -> None:
    assert ORDERS.matches(name) is matches


def test_files_in_lists_a_sources_files_in_name_order(tmp_path: Path) -> None:
    for name in ["orders_2026.csv", "orders.csv", "orders_2025-12-31.csv", "orders-old.csv", "web_sessions_1.csv",
                 "customers_b.json", "customers_a.json", "products_1.parquet"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "orders_dir.csv").mkdir()
    assert [p.name for p in ORDERS.files_in(tmp_path)] == ["orders.csv", "orders_2025-12-31.csv", "orders_2026.csv"]
    assert [p.name for p in CUSTOMERS.files_in(tmp_path)] == ["customers_a.json", "customers_b.json"]
    assert [p.name for p in PRODUCTS.files_in(tmp_path)] == ["products_1.parquet"]
    assert [p.name for p in WEB_SESSIONS.files_in(tmp_path)] == ["web_sessions_1.csv"]
    assert ORDERS.files_in(tmp_path / "missing") == []
    assert ORDERS.file_pattern == "orders.csv or orders_<tag>.csv"
