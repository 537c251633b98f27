"""Propensity features and labels on a tiny hand-made warehouse (no dependency on a built warehouse)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from ml.propensity.features import build_features, build_labels

CUTOFF = date(2025, 6, 1)

# Only the columns the feature code reads. int_customer_orders is a view over the order lines,
# mirroring the dbt model, so appending a line updates both tables consistently.
SCHEMA_SQL = """
create schema marts;
create schema intermediate;
create schema staging;
create table marts.dim_customers (
    customer_id varchar, loyalty_tier varchar, country_code varchar, registered_on date, is_unknown_member boolean
);
create table marts.fct_order_lines (
    order_id varchar, customer_id varchar, category varchar, order_date date, is_sale boolean, revenue decimal(18, 2)
);
create view intermediate.int_customer_orders as
    select customer_id, order_id, min(order_date) as order_date,
           sum(case when is_sale then revenue else 0 end)::decimal(18, 2) as revenue, bool_or(is_sale) as is_sale,
           customer_id = 'UNKNOWN' as is_unknown_customer
    from marts.fct_order_lines
    where customer_id is not null
    group by customer_id, order_id;
create table staging.stg_shop__email_events (
    customer_id varchar, campaign_id varchar, event_type varchar, event_date date
);
create table staging.stg_shop__web_sessions (customer_id varchar, session_date date);
"""

CUSTOMERS = [
    ("C1", "gold", "FR", date(2024, 1, 15), False),
    ("C2", "bronze", "DE", date(2025, 6, 1), False),  # registered on the cutoff: included, tenure 0
    ("C3", "silver", "NL", date(2025, 6, 2), False),  # registered after the cutoff: excluded
    ("UNKNOWN", None, None, None, True),
]

LINES = [
    ("O1", "C1", "Books", date(2024, 3, 10), True, 40),  # 448 days before the cutoff
    ("O1", "C1", "Electronics", date(2024, 3, 10), True, 60),
    ("O4", "C1", "Electronics", date(2025, 3, 3), True, 20),  # exactly cutoff - 90
    ("O4", "C1", "Books", date(2025, 3, 3), False, 999),  # cancelled line inside a sale order
    ("O3", "C1", "Fashion", date(2025, 4, 1), False, 50),  # returned order: no sale, no category column
    ("O2", "C1", "Books", date(2025, 5, 2), True, 30),  # exactly cutoff - 30
    ("O5", "C1", "Books", date(2025, 6, 1), True, 500),  # on the cutoff: label, not feature
    ("G1", None, "Home & Kitchen", date(2025, 1, 5), True, 10),  # guest
]

EMAILS = [
    ("C1", "K0", "sent", date(2025, 3, 2)),  # 91 days: outside the 90-day window
    ("C1", "K0", "opened", date(2025, 4, 1)),  # inside the window, but of an e-mail sent before it
    ("C1", "K1", "sent", date(2025, 3, 3)),
    ("C1", "K2", "sent", date(2025, 5, 10)),
    ("C1", "K2", "opened", date(2025, 5, 11)),
    ("C1", "K2", "clicked", date(2025, 5, 11)),
    ("C1", "K1", "opened", date(2025, 6, 1)),  # on the cutoff
]

SESSIONS = [
    ("C1", date(2025, 3, 2)),  # 91 days
    ("C1", date(2025, 4, 15)),
    ("C1", date(2025, 5, 2)),
    ("C1", date(2025, 6, 1)),  # on the cutoff
]


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    if rows:
        placeholders = ", ".join("?" * len(rows[0]))
        con.executemany(f"insert into {table} values ({placeholders})", rows)


def _make_con(*, with_optional: bool = True, lines: list[tuple] | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(SCHEMA_SQL)
    _insert(con, "marts.dim_customers", CUSTOMERS)
    _insert(con, "marts.fct_order_lines", LINES if lines is None else lines)
    if with_optional:
        _insert(con, "staging.stg_shop__email_events", EMAILS)
        _insert(con, "staging.stg_shop__web_sessions", SESSIONS)
    return con


def _row(df: pd.DataFrame, customer_id: str) -> pd.Series:
    rows = df[df["customer_id"] == customer_id]
    assert len(rows) == 1, f"expected one row for {customer_id}, got {len(rows)}"
    return rows.iloc[0]


def test_hand_computed_example() -> None:
    df = build_features(_make_con(), [CUTOFF])

    assert sorted(df["customer_id"]) == ["C1", "C2"]  # C3 registers later, UNKNOWN is not a customer
    assert set(df["cutoff"]) == {pd.Timestamp(CUTOFF)}
    # Categories from sale lines only: Fashion appears only in a returned order.
    assert sorted(c for c in df.columns if c.startswith("share_")) == [
        "share_books",
        "share_electronics",
        "share_home_kitchen",
    ]

    c1 = _row(df, "C1")
    assert c1["days_since_last_order"] == 30  # 2025-05-02 -> 2025-06-01
    assert (c1["orders_30d"], c1["orders_90d"], c1["orders_365d"]) == (1, 2, 2)  # O2 | O2, O4 | O2, O4
    assert c1["revenue_30d"] == pytest.approx(30)
    assert c1["revenue_90d"] == pytest.approx(50)  # 30 + 20; the cancelled 999 line is not revenue
    assert c1["revenue_365d"] == pytest.approx(50)  # O1 is 448 days old
    assert c1["tenure_days"] == 503  # 366 (2024-01-15 -> 2025-01-15, leap year) + 137
    assert c1["average_order_value"] == pytest.approx(150 / 3)  # O1 100, O4 20, O2 30
    assert c1["days_since_last_contact"] == 21  # 2025-05-11 -> 2025-06-01
    # K1 and K2 were sent in the window; K2 was opened and clicked; K0's open does not count (sent before).
    assert (c1["emails_sent_90d"], c1["emails_opened_90d"], c1["emails_clicked_90d"]) == (2, 1, 1)
    assert c1["open_rate_90d"] == pytest.approx(0.5)
    assert (c1["web_visits_30d"], c1["web_visits_90d"]) == (1, 2)
    assert (c1["loyalty_tier"], c1["country_code"]) == ("gold", "FR")
    assert c1["share_books"] == pytest.approx(70 / 150)  # 40 + 30
    assert c1["share_electronics"] == pytest.approx(80 / 150)  # 60 + 20
    assert c1["share_home_kitchen"] == 0

    c2 = _row(df, "C2")
    assert c2["tenure_days"] == 0
    assert pd.isna(c2["days_since_last_order"])
    assert pd.isna(c2["average_order_value"])
    assert pd.isna(c2["days_since_last_contact"])
    assert pd.isna(c2["open_rate_90d"])
    assert c2["orders_365d"] == 0 and c2["revenue_365d"] == 0
    assert c2["share_books"] == 0 and c2["share_electronics"] == 0


def test_several_cutoffs_in_one_call() -> None:
    later = date(2025, 6, 10)
    df = build_features(_make_con(), [later, CUTOFF, CUTOFF])  # duplicates and order do not matter
    assert len(df) == 5  # C1, C2 at both cutoffs; C3 (registered 2025-06-02) only at the later one
    assert sorted(df.loc[df["cutoff"] == pd.Timestamp(later), "customer_id"]) == ["C1", "C2", "C3"]
    c1_later = df[(df["customer_id"] == "C1") & (df["cutoff"] == pd.Timestamp(later))].iloc[0]
    assert c1_later["days_since_last_order"] == 9  # O5 on 2025-06-01 now counts
    assert c1_later["orders_30d"] == 1  # O2 (2025-05-02) left the 30-day window; O5 entered


FUTURE_ROWS: dict[str, list[tuple]] = {
    "marts.fct_order_lines": [
        ("F1", "C1", "Books", CUTOFF, True, 70),
        ("F2", "C1", "Garden", CUTOFF + timedelta(days=5), True, 80),  # a category never sold before
        ("F3", "C2", "Electronics", CUTOFF, True, 90),
        ("F4", "C2", "Books", CUTOFF + timedelta(days=400), False, 10),
    ],
    "staging.stg_shop__email_events": [
        (cid, f"F{d}", kind, CUTOFF + timedelta(days=d))
        for cid in ("C1", "C2")
        for kind in ("sent", "opened", "clicked")
        for d in (0, 3)
    ],
    "staging.stg_shop__web_sessions": [("C1", CUTOFF), ("C2", CUTOFF), ("C2", CUTOFF + timedelta(days=1))],
}

PAST_ROWS: dict[str, list[tuple]] = {
    "marts.fct_order_lines": [("P1", "C1", "Books", CUTOFF - timedelta(days=1), True, 70)],
    "staging.stg_shop__email_events": [("C1", "P1", "sent", CUTOFF - timedelta(days=1))],
    "staging.stg_shop__web_sessions": [("C1", CUTOFF - timedelta(days=1))],
}


def test_no_leakage_rows_on_or_after_cutoff_change_nothing() -> None:
    con = _make_con()
    before = build_features(con, [CUTOFF])
    for table, rows in FUTURE_ROWS.items():
        _insert(con, table, rows)
    after = build_features(con, [CUTOFF])
    pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("table", sorted(PAST_ROWS))
def test_rows_before_cutoff_do_change_features(table: str) -> None:
    # The counterpart of the no-leakage test: each source does reach the features, so the test above can fail.
    con = _make_con()
    before = build_features(con, [CUTOFF])
    _insert(con, table, PAST_ROWS[table])
    after = build_features(con, [CUTOFF])
    assert not before.equals(after)
    changed = _row(after, "C1")
    if table == "marts.fct_order_lines":
        assert changed["days_since_last_order"] == 1
    elif table == "staging.stg_shop__email_events":
        assert changed["days_since_last_contact"] == 1 and changed["emails_sent_90d"] == 3
    else:
        assert changed["web_visits_30d"] == 2


def test_labels_look_only_at_the_horizon() -> None:
    lines = [
        ("A", "C1", "Books", CUTOFF + timedelta(days=29), True, 10),  # last day of [cutoff, cutoff + 30)
        ("B", "C2", "Books", CUTOFF - timedelta(days=1), True, 10),  # before the cutoff
        ("C", "C2", "Books", CUTOFF + timedelta(days=30), True, 10),  # first day after the horizon
        ("D", "C2", "Books", CUTOFF + timedelta(days=10), False, 10),  # in the horizon but not a sale
        ("E", "C3", "Books", CUTOFF + timedelta(days=1), True, 10),  # C3 is not in the population yet
        ("G", None, "Books", CUTOFF + timedelta(days=1), True, 10),  # guest
    ]
    con = _make_con(lines=lines)
    labels = build_labels(con, [CUTOFF])
    assert list(labels.columns) == ["customer_id", "cutoff", "label"]
    assert dict(zip(labels["customer_id"], labels["label"], strict=True)) == {"C1": 1, "C2": 0}

    longer = build_labels(con, [CUTOFF], horizon_days=31)
    assert dict(zip(longer["customer_id"], longer["label"], strict=True)) == {"C1": 1, "C2": 1}

    # Same population as the features, so the two frames join one-to-one.
    features = build_features(con, [CUTOFF])
    assert features[["customer_id", "cutoff"]].equals(labels[["customer_id", "cutoff"]])


def test_empty_optional_sources_give_zero_counts_and_null_rates() -> None:
    df = build_features(_make_con(with_optional=False), [CUTOFF])
    assert len(df) == 2
    for col in ("emails_sent_90d", "emails_opened_90d", "emails_clicked_90d", "web_visits_30d", "web_visits_90d"):
        assert (df[col] == 0).all(), col
    assert df["open_rate_90d"].isna().all()
    assert df["days_since_last_contact"].isna().all()
    assert _row(df, "C1")["orders_365d"] == 2  # the sales features are unaffected


def test_rejects_empty_cutoffs_and_bad_horizon() -> None:
    con = _make_con()
    with pytest.raises(ValueError):
        build_features(con, [])
    with pytest.raises(ValueError):
        build_labels(con, [CUTOFF], horizon_days=0)
