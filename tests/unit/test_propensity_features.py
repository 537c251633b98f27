"""Propensity features and labels: the dbt feature models built on a tiny hand-made landing folder (real raw load,
real dbt, real DuckDB), read through ml/propensity/features.py.

The point-in-time guarantee is tested on the dbt models themselves: adding events dated on or after the cutoff
changes no feature of that cutoff (or of any earlier one), while events dated the day before do change them.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.propensity.features import build_features, build_labels, read_cutoff_plan
from tests.feature_builds import Shop, connect_features

# Builds feature warehouses with dbt and trains models: minutes, not seconds (README: Contributing).
pytestmark = pytest.mark.slow

CUTOFF = date(2025, 6, 1)  # the evaluation cutoff of the plan below
HORIZON = 9  # label window (dbt var propensity_horizon_days): labels in [CUTOFF, CUTOFF + 9)
AS_OF = CUTOFF + timedelta(days=HORIZON - 1)  # the evaluation window ends on the as-of date
LATER = AS_OF + timedelta(days=1)  # the scoring cutoff
DBT_VARS = {"as_of_date": AS_OF, "propensity_horizon_days": HORIZON}

CUSTOMERS = [
    ("C1", "gold", "FR", date(2024, 1, 15)),
    ("C2", "bronze", "DE", date(2025, 6, 1)),  # registered on the cutoff: included, tenure 0
    ("C3", "silver", "NL", date(2025, 6, 2)),  # registered after the cutoff: excluded (until LATER)
    ("C4", "bronze", "FR", date(2024, 1, 1)),  # label edges
    ("C5", "bronze", "FR", date(2024, 1, 1)),
]

LINES = [
    ("O1", "C1", "Books", date(2024, 3, 10), True, 40),  # 448 days before the cutoff
    ("O1", "C1", "Electronics", date(2024, 3, 10), True, 60),
    ("O4", "C1", "Electronics", date(2025, 3, 3), True, 20),  # exactly cutoff - 90
    ("O4", "C1", "Books", date(2025, 3, 3), False, 999),  # cancelled line inside a sale order
    ("O3", "C1", "Fashion", date(2025, 4, 1), False, 50),  # cancelled order: no sale, no category column
    ("O2", "C1", "Books", date(2025, 5, 2), True, 30),  # exactly cutoff - 30
    ("O5", "C1", "Books", date(2025, 6, 1), True, 500),  # on the cutoff: label, not feature
    ("G1", None, "Home & Kitchen", date(2025, 1, 5), True, 10),  # guest
    ("A1", "C4", "Books", CUTOFF - timedelta(days=1), True, 10),  # before the label window
    ("A2", "C4", "Books", CUTOFF + timedelta(days=3), False, 10),  # in the window but not a sale
    ("A3", "C4", "Books", CUTOFF + timedelta(days=HORIZON), True, 10),  # first day after the window
    ("A4", "C5", "Books", CUTOFF + timedelta(days=HORIZON - 1), True, 10),  # last day of the window
    ("A5", "C3", "Books", CUTOFF + timedelta(days=1), True, 10),  # C3 is not in the population yet
    ("A6", None, "Books", CUTOFF + timedelta(days=1), True, 10),  # guest
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

# Events dated on or after CUTOFF (so after every training cutoff too): they may change labels, never features.
FUTURE_LINES = [
    ("F1", "C1", "Books", CUTOFF, True, 70),
    ("F2", "C1", "Garden", CUTOFF + timedelta(days=5), True, 80),  # a category never sold before
    ("F3", "C2", "Electronics", CUTOFF, True, 90),
    ("F4", "C2", "Books", CUTOFF + timedelta(days=400), False, 10),
]
FUTURE_EMAILS = [
    (cid, f"F{d}", kind, CUTOFF + timedelta(days=d))
    for cid in ("C1", "C2") for kind in ("sent", "opened", "clicked") for d in (0, 3)
]
FUTURE_SESSIONS = [("C1", CUTOFF), ("C2", CUTOFF), ("C2", CUTOFF + timedelta(days=1))]

# The day before the cutoff: each source must reach the features, or the no-leakage test could not fail.
PAST_LINES = [("P1", "C1", "Books", CUTOFF - timedelta(days=1), True, 70)]
PAST_EMAILS = [("C1", "P1", "sent", CUTOFF - timedelta(days=1))]
PAST_SESSIONS = [("C1", CUTOFF - timedelta(days=1))]


def _shop(lines: list[tuple] = (), emails: list[tuple] = (), sessions: list[tuple] = (), *,
          optional: bool = True) -> Shop:
    return Shop(
        CUSTOMERS,
        [*LINES, *lines],
        [*EMAILS, *emails] if optional else None,
        [*SESSIONS, *sessions] if optional else None,
    )


def _connect(tmp_path_factory: pytest.TempPathFactory, name: str, shop: Shop) -> duckdb.DuckDBPyConnection:
    return connect_features(shop, tmp_path_factory.mktemp(name), DBT_VARS)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _connect(tmp_path_factory, "base", _shop())


@pytest.fixture(scope="module")
def future_con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _connect(tmp_path_factory, "future", _shop(FUTURE_LINES, FUTURE_EMAILS, FUTURE_SESSIONS))


@pytest.fixture(scope="module")
def past_con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _connect(tmp_path_factory, "past", _shop(PAST_LINES, PAST_EMAILS, PAST_SESSIONS))


def _row(df: pd.DataFrame, customer_id: str) -> pd.Series:
    rows = df[df["customer_id"] == customer_id]
    assert len(rows) == 1, f"expected one row for {customer_id}, got {len(rows)}"
    return rows.iloc[0]


def test_the_cutoff_plan(con: duckdb.DuckDBPyConnection) -> None:
    plan = read_cutoff_plan(con).require_training()
    assert (plan.as_of, plan.horizon_days, plan.eval_cutoff, plan.scoring_cutoff) == (AS_OF, HORIZON, CUTOFF, LATER)
    # One window apart, oldest first, all after the first sale (2024-03-10): the var's 12.
    assert plan.training_cutoffs == [CUTOFF - timedelta(days=HORIZON * k) for k in range(12, 0, -1)]
    assert plan.validation_cutoff == CUTOFF - timedelta(days=HORIZON)


def test_hand_computed_example(con: duckdb.DuckDBPyConnection) -> None:
    df = build_features(con, [CUTOFF])

    assert sorted(df["customer_id"]) == ["C1", "C2", "C4", "C5"]  # C3 registers later; UNKNOWN is not a customer
    assert set(df["cutoff"]) == {pd.Timestamp(CUTOFF)}
    # Categories from sale lines only: Fashion appears only in a cancelled order.
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


def test_several_cutoffs_in_one_call(con: duckdb.DuckDBPyConnection) -> None:
    df = build_features(con, [LATER, CUTOFF, CUTOFF])  # duplicates and order do not matter
    assert len(df) == 9  # C1, C2, C4, C5 at both cutoffs; C3 (registered 2025-06-02) only at the later one
    assert list(df["cutoff"]) == [pd.Timestamp(CUTOFF)] * 4 + [pd.Timestamp(LATER)] * 5  # (cutoff, customer) order
    assert sorted(df.loc[df["cutoff"] == pd.Timestamp(LATER), "customer_id"]) == ["C1", "C2", "C3", "C4", "C5"]
    c1_later = df[(df["customer_id"] == "C1") & (df["cutoff"] == pd.Timestamp(LATER))].iloc[0]
    assert c1_later["days_since_last_order"] == 9  # O5 on 2025-06-01 now counts
    assert c1_later["orders_30d"] == 1  # O2 (2025-05-02) left the 30-day window; O5 entered


def test_no_leakage_events_on_or_after_the_cutoff_change_no_feature(
    con: duckdb.DuckDBPyConnection, future_con: duckdb.DuckDBPyConnection
) -> None:
    plan = read_cutoff_plan(con)
    assert read_cutoff_plan(future_con) == plan  # the same cutoffs, so the same rows are compared
    cutoffs = [*plan.training_cutoffs, plan.eval_cutoff]  # every one on or before CUTOFF
    pd.testing.assert_frame_equal(build_features(con, cutoffs), build_features(future_con, cutoffs))
    # The labels do read the window after the cutoff: C2 bought on it.
    assert _row(build_labels(future_con, [CUTOFF]), "C2")["label"] == 1


def test_events_the_day_before_the_cutoff_do_change_features(
    con: duckdb.DuckDBPyConnection, past_con: duckdb.DuckDBPyConnection
) -> None:
    # The counterpart of the no-leakage test: each source does reach the features, so that test can fail.
    before, after = _row(build_features(con, [CUTOFF]), "C1"), _row(build_features(past_con, [CUTOFF]), "C1")
    assert before["days_since_last_order"] == 30 and after["days_since_last_order"] == 1  # order lines
    assert after["days_since_last_contact"] == 1 and after["emails_sent_90d"] == 3  # e-mail events
    assert before["web_visits_30d"] == 1 and after["web_visits_30d"] == 2  # web sessions


def test_labels_look_only_at_the_horizon(con: duckdb.DuckDBPyConnection) -> None:
    labels = build_labels(con, [CUTOFF])
    assert list(labels.columns) == ["customer_id", "cutoff", "label"]
    # C1 bought on the cutoff, C5 on the window's last day; C4 only before it, after it, or without a sale.
    assert dict(zip(labels["customer_id"], labels["label"], strict=True)) == {"C1": 1, "C2": 0, "C4": 0, "C5": 1}
    # Same population as the features, so the two frames join one-to-one.
    features = build_features(con, [CUTOFF])
    assert features[["customer_id", "cutoff"]].equals(labels[["customer_id", "cutoff"]])
    # The scoring cutoff's window lies after the as-of date: no labels.
    assert build_labels(con, [LATER]).empty


def test_empty_optional_sources_give_zero_counts_and_null_rates(tmp_path_factory: pytest.TempPathFactory) -> None:
    df = build_features(_connect(tmp_path_factory, "no-events", _shop(optional=False)), [CUTOFF])
    assert len(df) == 4
    for col in ("emails_sent_90d", "emails_opened_90d", "emails_clicked_90d", "web_visits_30d", "web_visits_90d"):
        assert (df[col] == 0).all(), col
    assert df["open_rate_90d"].isna().all()
    assert df["days_since_last_contact"].isna().all()
    assert _row(df, "C1")["orders_365d"] == 2  # the sales features are unaffected


def test_rejects_no_cutoff_and_a_day_dbt_did_not_plan(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="at least one cutoff"):
        build_features(con, [])
    with pytest.raises(ValueError, match="not cutoffs of"):
        build_features(con, [CUTOFF + timedelta(days=1)])


def test_a_short_history_is_reported_not_trained_on(tmp_path: Path) -> None:
    from ml.warehouse import InsufficientDataError

    # The first sale 20 days before the as-of date: no 30-day window fits twice before the evaluation window.
    shop = Shop(CUSTOMERS[:1], [("O1", "C1", "Books", date(2025, 5, 20), True, 10)], [], [])
    plan = read_cutoff_plan(connect_features(shop, tmp_path, {"as_of_date": AS_OF}))
    assert plan.horizon_days == 30 and plan.training_cutoffs == []
    with pytest.raises(InsufficientDataError, match="two training cutoffs"):
        plan.require_training()
