"""Cross-check: the marts agree exactly with an independent pandas recomputation from the raw files.

The reference (tests/crosscheck/reference.py) re-implements the cleaning rules and the business
definitions from their written contract, without DuckDB, dbt or the raw loader. Money is compared
as integers, never as floats: line amounts in millionths (exact, as the facts keep them), mart
figures in cents. A failure lists the first disagreeing rows (key, expected from the reference,
found in the mart).

Every check runs on two landing folders: the committed sample (built end to end by `comptoir
build`) and a generated shop whose discounted prices and costs go below the cent (`--subcent-rate`,
built by the raw load and `dbt build`), where rounding a price before multiplying it, or summing
rounded amounts, would show.
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


# The sub-cent shop: small enough to build in seconds, a year and a half of history, 40 % of the lines
# at a discounted price with 3, 4 or 6 decimals.
SUBCENT_SHOP = {"customers": 400, "days": 550, "seed": 11, "subcent_rate": 0.4}


@pytest.fixture(scope="module")
def subcent_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from orchestration.generator import generate

    folder = tmp_path_factory.mktemp("subcent") / "landing"
    generate(folder, **SUBCENT_SHOP)
    return folder


@pytest.fixture(scope="module", params=["sample", "subcent"])
def shop(request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """(landing folder, warehouse built from it)."""
    if os.environ.get(LANDING_ENV) and os.environ.get(WAREHOUSE_ENV):
        if request.param != "sample":
            pytest.skip(f"{LANDING_ENV} and {WAREHOUSE_ENV} point the cross-check at one warehouse")
        return Path(os.environ[LANDING_ENV]), Path(os.environ[WAREHOUSE_ENV])
    if request.param == "sample":
        return request.getfixturevalue("sample_dir"), request.getfixturevalue("built_sample")
    from tests.integration.dbt_builds import load_and_build

    landing = request.getfixturevalue("subcent_landing")
    database = landing.parent / "comptoir.duckdb"
    load_and_build(landing, database, landing.parent / "target")
    return landing, database


@pytest.fixture(scope="module")
def landing(shop: tuple[Path, Path]) -> Path:
    return shop[0]


@pytest.fixture(scope="module")
def warehouse(shop: tuple[Path, Path]) -> Path:
    return shop[1]


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


def micros(value: object) -> int | None:
    """Exact integer millionths of a DECIMAL read from DuckDB (the facts' money: macros/money.sql)."""
    if value is None:
        return None
    assert isinstance(value, Decimal), f"money must come back as DECIMAL, got {type(value).__name__} {value!r}"
    scaled = value * ref_mod.MICROS
    assert scaled == scaled.to_integral_value(), f"{value} has more than 6 decimals"
    return int(scaled)


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
    found["revenue_micros"] = found.pop("revenue").map(micros)
    found["line_number"] = found["line_number"].astype(int)
    found["quantity"] = found["quantity"].astype(int)
    expected = reference.lines[
        ["order_id", "line_number", "customer_id", "category", "status", "quantity", "revenue_micros", "order_date"]
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
    exact = int(reference.sale_lines["revenue_micros"].sum())
    revenue = scalar(con, "select sum(revenue) from marts.fct_order_lines where is_sale")
    orders = scalar(con, "select count(*) from marts.fct_orders where is_sale")
    sale_revenue = scalar(con, "select sum(revenue) from marts.fct_orders where is_sale")
    assert micros(revenue) == exact, f"fct_order_lines: {revenue} != {exact / ref_mod.MICROS}"
    assert micros(sale_revenue) == exact, f"fct_orders: {sale_revenue} != {exact / ref_mod.MICROS}"
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
                "O9,1,C1,P1,3,11.184,2024-03-02,completed,",  # kept: a sub-cent price, exact
                "O10,1,C1,P1,1,1.1234567,2024-03-02,completed,",  # more than 6 decimals
                'O11,1,C1,P1,1,"1,234.50",2024-03-02,completed,',  # thousands separator
                'O12,1,C1,P1,1,"12,5",2024-03-02,completed,',  # decimal comma
                "O13,1,C1,P1,1,1000000000000,2024-03-02,completed,",  # beyond decimal(18,6)
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    lines = ref_mod.read_order_lines(tmp_path / "orders.csv", datetime(2030, 1, 1))
    assert lines["order_id"].tolist() == ["O1", "O8", "O9"]
    assert lines["status"].tolist() == ["completed", "returned", "completed"]
    assert lines["revenue_micros"].tolist() == [19_980_000, 300_000, 33_552_000]
