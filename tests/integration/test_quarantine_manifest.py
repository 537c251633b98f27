"""Every defect the generator injected is accounted for by the rule meant to catch it, and no other."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

# manifest defect → (mart_data_quality check, detail); details that start with "wrong number of fields"
# are summed, since the reason names the field count found.
EXPECTED_CHECKS = {
    "orders_blank_order_id": ("orders", "quarantined", "blank_order_id"),
    "orders_blank_product_id": ("orders", "quarantined", "blank_product_id"),
    "orders_unparsable_date": ("orders", "quarantined", "unparsable_date"),
    "orders_impossible_date": ("orders", "quarantined", "impossible_date"),
    "orders_future_date": ("orders", "quarantined", "future_date"),
    "orders_nonpositive_quantity": ("orders", "quarantined", "nonpositive_quantity"),
    "orders_negative_price": ("orders", "quarantined", "negative_price"),
    "orders_exact_duplicate_lines": ("orders", "removed_duplicate", "exact_duplicate"),
    "orders_malformed_broken_quoting": (
        "orders", "rejected_at_load", "broken quoting: unbalanced or misplaced double quote"
    ),
    "orders_malformed_wrong_field_count": ("orders", "rejected_at_load", "wrong number of fields%"),
    "orders_unknown_customer": ("orders", "orphan_reference", "customer missing from customers.json"),
    "customers_blank_customer_id": ("customers", "quarantined", "blank_customer_id"),
    "customers_exported_twice": ("customers", "removed_duplicate", "superseded"),
    "customers_malformed_json": ("customers", "rejected_at_load", "invalid JSON"),
    "customers_malformed_email": ("customers", "flagged", "malformed e-mail kept"),
    "products_blank_product_id": ("products", "quarantined", "blank_product_id"),
    "products_negative_price": ("products", "quarantined", "negative_price"),
    "products_negative_cost": ("products", "quarantined", "negative_cost"),
    "inventory_malformed_wrong_field_count": ("inventory", "rejected_at_load", "wrong number of fields%"),
    "inventory_unparsable_date": ("inventory", "quarantined", "unparsable_date"),
    "web_sessions_malformed_wrong_field_count": ("web_sessions", "rejected_at_load", "wrong number of fields%"),
    "web_sessions_unparsable_date": ("web_sessions", "quarantined", "unparsable_date"),
    "email_events_malformed_wrong_field_count": ("email_events", "rejected_at_load", "wrong number of fields%"),
    "email_events_unparsable_date": ("email_events", "quarantined", "unparsable_date"),
}
# Defects that are repaired rather than caught: the row must survive into staging.
REPAIRED = {"orders_stray_whitespace", "customers_stray_whitespace", "customers_inconsistent_country_spelling"}


@pytest.fixture(scope="module")
def quality(built_sample: Path) -> dict[tuple[str, str, str], int]:
    with duckdb.connect(str(built_sample), read_only=True) as con:
        rows = con.execute("select source, check_name, detail, row_count from marts.mart_data_quality").fetchall()
    return {(source, check, detail): count for source, check, detail, count in rows}


def test_every_injected_defect_kind_is_mapped(sample_dir: Path) -> None:
    defects = json.loads((sample_dir / "manifest.json").read_text())["defects"]
    unmapped = set(defects) - set(EXPECTED_CHECKS) - REPAIRED - {"orders_unknown_product"}
    assert not unmapped, f"defects without an expected check: {sorted(unmapped)}"


@pytest.mark.parametrize("defect", sorted(EXPECTED_CHECKS))
def test_defect_count_equals_the_check_that_catches_it(defect: str, sample_dir: Path, quality) -> None:
    injected = json.loads((sample_dir / "manifest.json").read_text())["defects"].get(defect, 0)
    source, check, detail = EXPECTED_CHECKS[defect]
    if detail.endswith("%"):
        found = sum(n for (s, c, d), n in quality.items() if (s, c) == (source, check) and d.startswith(detail[:-1]))
    else:
        found = quality.get((source, check, detail), 0)
    assert found == injected, f"{defect}: manifest {injected}, warehouse {found} ({source}/{check}/{detail})"


def test_repaired_defects_leave_nothing_unrecognised(quality) -> None:
    assert quality.get(("customers", "flagged", "unrecognised country kept as exported"), 0) == 0
    unknown_status = quality.get(("orders", "quarantined", "unknown_status"), 0)
    assert unknown_status == 0, "a status with stray whitespace was not repaired"


def test_unknown_products_are_the_injected_ones_plus_sales_of_quarantined_products(
    built_sample: Path, sample_dir: Path, quality
) -> None:
    injected = json.loads((sample_dir / "manifest.json").read_text())["defects"]["orders_unknown_product"]
    with duckdb.connect(str(built_sample), read_only=True) as con:
        of_quarantined = con.execute(
            """select count(*) from marts.fct_order_lines
               where is_unknown_product and source_product_id in (
                   select natural_key from staging.dq_quarantine where source = 'products')"""
        ).fetchone()[0]
    orphans = quality[("orders", "orphan_reference", "product missing from products.parquet")]
    assert orphans == injected + of_quarantined
