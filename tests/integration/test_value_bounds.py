"""Values at and past the contract's bounds, through the real raw load and `dbt build` (DECISIONS.md: Value bounds).

The repro of issue 13: a quantity past the 32-bit range was cast to null and failed a not-null test with
nothing published, and `quantity=2000000000, unit_price=99999999999.99` overflowed DECIMAL(18) in
fct_order_lines. Now a value past a bound is quarantined with its rule and source line, and the largest
values the contract accepts build without overflow, with the exact amounts in the facts and the marts.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.integration.dbt_builds import load_and_build

pytestmark = pytest.mark.slow

HEADER = "order_id,line_number,customer_id,product_id,quantity,unit_price,order_date,status,shipping_address"
LINES = [
    "O1,1,C1,P1,2,9.99,2024-03-01T10:00:00,completed,",  # an ordinary line
    "O2,1,C1,P1,3000000000,9.99,2024-03-01T10:00:00,completed,",  # past the 32-bit range
    "O3,1,C1,P1,2000000000,99999999999.99,2024-03-01T10:00:00,completed,",  # the overflow repro: past the bound
    "O4,1,C1,P1,1000000,999999999999.999999,2024-03-02T10:00:00,completed,",  # the largest accepted line
    "O5,1,C1,P1,1000000,999999999999.999999,2024-03-02T10:00:00,completed,",  # twice: a sum of the largest
    "O6,1,C1,P1,1,1000000000000,2024-03-02T10:00:00,completed,",  # a price past the bound
    "O7,2147483648,C1,P1,1,1.00,2024-03-02T10:00:00,completed,",  # a line number past the 32-bit range
]


@pytest.fixture
def built(make_seeds: Callable[..., Path], tmp_path: Path) -> Path:
    landing = make_seeds({"orders.csv": HEADER + "\n" + "\n".join(LINES) + "\n"})
    database = tmp_path / "comptoir.duckdb"
    load_and_build(landing, database, tmp_path / "target")  # asserts that every model and test passed
    return database


def test_values_past_a_bound_are_quarantined_with_their_rule_and_line(built: Path) -> None:
    with duckdb.connect(str(built), read_only=True) as con:
        quarantined = con.execute(
            "select source_line, rule from staging.dq_quarantine where source = 'orders' order by source_line"
        ).fetchall()
    assert quarantined == [
        (3, "quantity_out_of_range"),
        (4, "quantity_out_of_range"),
        (7, "price_out_of_range"),
        (8, "invalid_line_number"),
    ]


def test_the_largest_accepted_values_build_without_overflow(built: Path) -> None:
    largest = Decimal(1_000_000) * Decimal("999999999999.999999")
    with duckdb.connect(str(built), read_only=True) as con:
        lines = dict(con.execute("select order_id, revenue from marts.fct_order_lines").fetchall())
        kpi_revenue = con.execute("select revenue from marts.mart_kpis").fetchone()[0]
        daily = con.execute("select sum(revenue) from marts.mart_daily_sales").fetchone()[0]
    assert lines == {"O1": Decimal("19.98"), "O4": largest, "O5": largest}
    assert kpi_revenue == (2 * largest + Decimal("19.98")).quantize(Decimal("0.01"))
    assert daily == kpi_revenue
