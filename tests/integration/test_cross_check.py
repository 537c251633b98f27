"""Cross-check: the marts agree exactly with an independent pandas recomputation from the raw files.

The reference (tests/crosscheck/reference.py) re-implements the cleaning rules and the business
definitions from their written contract, without DuckDB, dbt or the raw loader. Money is compared
in integer cents, never as floats. A failure lists the first disagreeing rows (key, expected from
the reference, found in the mart).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.crosscheck import reference as ref_mod

pytestmark = pytest.mark.slow

SHOW = 15  # disagreeing rows listed in a failure message

# Development overrides: point the cross-check at an already-built warehouse and its landing folder
# (both must be set together) instead of building the committed sample.
WAREHOUSE_ENV = "COMPTOIR_CROSSCHECK_WAREHOUSE"
LANDING_ENV = "COMPTOIR_CROSSCHECK_LANDING"


@pytest.fixture(scope="module")
def landing(request: pytest.FixtureRequest) -> Path:
    if os.environ.get(LANDING_ENV):
        return Path(os.environ[LANDING_ENV])
    return request.getfixturevalue("sample_dir")


@pytest.fixture(scope="module")
def warehouse(request: pytest.FixtureRequest) -> Path:
    if os.environ.get(WAREHOUSE_ENV):
        return Path(os.environ[WAREHOUSE_ENV])
    return request.getfixturevalue("built_sample")


@pytest.fixture(scope="module")
def con(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(str(warehouse), read_only=True)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def reference(landing: Path) -> ref_mod.Reference:
    return ref_mod.build_reference(landing)


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def cents(value: object) -> int | None:
    """Exact integer cents of a DECIMAL read from DuckDB; refuses floats and sub-cent amounts."""
    if value is None:
        return None
    assert isinstance(value, Decimal), f"money must come back as DECIMAL, got {type(value).__name__} {value!r}"
    scaled = value * 100
    assert scaled == scaled.to_integral_value(), f"{value} has sub-cent digits"
    return int(scaled)


def ratio(value: object) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(repr(value))


def query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Rows as Python objects (DECIMAL stays Decimal: no float conversion)."""
    relation = con.sql(sql)
    return pd.DataFrame(relation.fetchall(), columns=relation.columns, dtype=object)


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    (row,) = con.sql(sql).fetchall()
    return row[0]


def compare(expected: pd.DataFrame, found: pd.DataFrame, keys: list[str], what: str) -> list[str]:
    """Problems between two frames with the same key and value columns (empty list = identical)."""
    problems: list[str] = []
    for name, frame in (("reference", expected), ("mart", found)):
        duplicated = frame[frame.duplicated(keys, keep=False)]
        if len(duplicated):
            problems.append(
                f"{what}: {len(duplicated)} rows with a duplicated key in the {name}:\n"
                f"{duplicated.head(SHOW).to_string(index=False)}"
            )
    values = [c for c in expected.columns if c not in keys]
    merged = expected.astype(object).merge(
        found.astype(object), on=keys, how="outer", suffixes=("_expected", "_found"), indicator=True
    )
    only_ref = merged[merged["_merge"] == "left_only"]
    only_mart = merged[merged["_merge"] == "right_only"]
    if len(only_ref):
        problems.append(
            f"{what}: {len(only_ref)} rows missing from the mart, e.g.\n"
            f"{only_ref[keys + [v + '_expected' for v in values]].head(SHOW).to_string(index=False)}"
        )
    if len(only_mart):
        problems.append(
            f"{what}: {len(only_mart)} rows in the mart the reference does not have, e.g.\n"
            f"{only_mart[keys + [v + '_found' for v in values]].head(SHOW).to_string(index=False)}"
        )
    both = merged[merged["_merge"] == "both"]
    for column in values:
        left, right = both[column + "_expected"], both[column + "_found"]
        differs = [not _same(a, b) for a, b in zip(left, right, strict=True)]
        bad = both[differs]
        if len(bad):
            shown = bad[[*keys, column + "_expected", column + "_found"]].head(SHOW)
            problems.append(f"{what}: {column} differs on {len(bad)} rows, e.g.\n{shown.to_string(index=False)}")
    return problems


def _same(a: object, b: object) -> bool:
    if a is None or b is None or (isinstance(a, float) and a != a) or (isinstance(b, float) and b != b):
        return (a is None or a != a) and (b is None or b != b)
    return bool(a == b)


# ------------------------------------------------------------------------------------------------
# 0. the clean order lines themselves (diagnostic: the quarantine and resolution rules)
# ------------------------------------------------------------------------------------------------


def test_clean_order_lines_match_fct_order_lines(con, reference) -> None:
    found = query(
        con,
        """
        select order_id, line_number, customer_id, category, status, quantity, revenue, order_date
        from marts.fct_order_lines
    """,
    )
    found["revenue_cents"] = found.pop("revenue").map(cents)
    found["line_number"] = found["line_number"].astype(int)
    found["quantity"] = found["quantity"].astype(int)
    expected = reference.lines[
        ["order_id", "line_number", "customer_id", "category", "status", "quantity", "revenue_cents", "order_date"]
    ].copy()
    problems = compare(expected, found, ["order_id", "line_number"], "fct_order_lines")
    assert not problems, "\n\n".join(problems)


# ------------------------------------------------------------------------------------------------
# 1. headline totals
# ------------------------------------------------------------------------------------------------


def test_kpis_match_reference(con, reference) -> None:
    expected = ref_mod.kpis(reference)
    kpis = query(con, "select revenue, orders, customers from marts.mart_kpis")
    assert len(kpis) == 1, f"mart_kpis should hold one row, has {len(kpis)}"
    row = kpis.iloc[0]
    found = {"revenue": row["revenue"], "orders": int(row["orders"]), "customers": int(row["customers"])}
    assert cents(found["revenue"]) == cents(expected["revenue"]), (expected, found)
    assert found == expected


def test_fact_tables_match_reference_totals(con, reference) -> None:
    expected = ref_mod.kpis(reference)
    revenue = scalar(con, "select sum(revenue) from marts.fct_order_lines where is_sale")
    orders = scalar(con, "select count(*) from marts.fct_orders where is_sale")
    sale_revenue = scalar(con, "select sum(revenue) from marts.fct_orders where is_sale")
    assert cents(revenue) == cents(expected["revenue"]), f"fct_order_lines: {revenue} != {expected['revenue']}"
    assert cents(sale_revenue) == cents(expected["revenue"]), f"fct_orders: {sale_revenue} != {expected['revenue']}"
    assert orders == expected["orders"], f"fct_orders sale orders {orders} != {expected['orders']}"


# ------------------------------------------------------------------------------------------------
# 2. daily revenue per category
# ------------------------------------------------------------------------------------------------


def test_daily_sales_match_reference(con, reference) -> None:
    expected = ref_mod.daily_sales(reference)
    found = query(con, "select date_day, category, revenue from marts.mart_daily_sales")
    found["revenue_cents"] = found.pop("revenue").map(cents)
    assert len(found) == len(expected), (
        f"mart_daily_sales has {len(found)} rows, the reference grid {len(expected)} "
        f"({expected['date_day'].nunique()} days x {len(reference.categories)} categories)"
    )
    problems = compare(expected, found, ["date_day", "category"], "mart_daily_sales")
    assert not problems, "\n\n".join(problems)


# ------------------------------------------------------------------------------------------------
# 3. RFM of every customer
# ------------------------------------------------------------------------------------------------


def test_customer_rfm_match_reference(con, reference) -> None:
    expected = ref_mod.customer_rfm(reference)
    found = query(
        con,
        """
        select customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment
        from marts.mart_customer_rfm
    """,
    )
    found["monetary_cents"] = found.pop("monetary").map(cents)
    for column in ("recency_days", "frequency", "r_score", "f_score", "m_score"):
        found[column] = found[column].map(int)
    problems = compare(expected, found, ["customer_id"], "mart_customer_rfm")
    assert not problems, "\n\n".join(problems)


# ------------------------------------------------------------------------------------------------
# 4. monthly cohort retention
# ------------------------------------------------------------------------------------------------


def test_cohort_retention_monthly_match_reference(con, reference) -> None:
    expected = ref_mod.cohort_retention_monthly(reference)
    found = query(
        con,
        """
        select cohort_month, period_number, cohort_size, active_customers, retention_pct, revenue
        from marts.mart_cohort_retention_monthly
    """,
    )
    found["cohort_month"] = found["cohort_month"].map(lambda d: d if not hasattr(d, "date") else d.date())
    found["revenue_cents"] = found.pop("revenue").map(cents)
    found["retention_pct"] = found["retention_pct"].map(ratio)
    for column in ("period_number", "cohort_size", "active_customers"):
        found[column] = found[column].map(int)
    problems = compare(expected, found, ["cohort_month", "period_number"], "mart_cohort_retention_monthly")
    assert not problems, "\n\n".join(problems)


# ------------------------------------------------------------------------------------------------
# the reference's own reading rules (cheap checks that it implements the contract as written)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ('a,"b, c",d', ["a", "b, c", "d"]),
        ('a,"say ""hi""",', ["a", 'say "hi"', ""]),
        ("a,,", ["a", "", ""]),
        ('a,"unbalanced', None),
        ('a,b"c,d', None),
        ('a,"109" Baker Street,d', None),
    ],
)
def test_reference_splits_one_csv_line(line: str, fields: list[str] | None) -> None:
    assert ref_mod.split_csv_line(line) == fields


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2024-03-01", True),
        ("2024-03-01T10:00", True),
        ("2024-03-01 10:00:05.123", True),
        ("2025-02-30", False),
        ("2024-03-01T25:00", False),
        ("01/03/2024 10:00", False),
        ("2024-3-1", False),
        ("2099-01-01", False),
        ("not-a-date", False),
    ],
)
def test_reference_reads_order_dates(text: str, valid: bool) -> None:
    assert (ref_mod.parse_timestamp(text, datetime(2030, 1, 1)) is not None) is valid


def test_reference_quarantine_rules(tmp_path: Path) -> None:
    header = ",".join(ref_mod.ORDER_COLUMNS)
    (tmp_path / "orders.csv").write_text(
        "\n".join(
            [
                header,
                "O1,1,C1,P1,2,9.99,2024-03-01T10:00:00, Completed ,",  # kept: trimmed, lower-cased
                "O1,1,C1,P1,2,9.99,2024-03-01T10:00:00, Completed ,",  # exact duplicate
                "O1,1,C1,P1,5,1.00,2024-03-01T10:00:00,completed,",  # same key: the first line wins
                "O2,0,C1,P1,1,1.00,2024-03-01,completed,",  # line_number not positive
                "O3,1,C1,P1,0,1.00,2024-03-01,completed,",  # quantity not positive
                "O4,1,C1,P1,1,-1.00,2024-03-01,completed,",  # negative price
                "O5,1,C1,P1,1,1.00,2024-03-01,shipped,",  # unknown status
                ",1,C1,P1,1,1.00,2024-03-01,completed,",  # no order_id
                "O6,1,C1,,1,1.00,2024-03-01,completed,",  # no product_id
                "",  # blank
                "O7,1,C1,P1,1,1.00,2024-03-01,completed",  # wrong field count
                'O8,1,,P1,3,0.10,2024-03-02 08:00,returned,"x, ""y"""',  # kept (guest)
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    lines = ref_mod.read_order_lines(tmp_path / "orders.csv", datetime(2030, 1, 1))
    assert lines["order_id"].tolist() == ["O1", "O8"]
    assert lines["status"].tolist() == ["completed", "returned"]
    assert lines["revenue_cents"].tolist() == [1998, 30]
