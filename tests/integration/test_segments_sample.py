"""Behavioural segments on the committed sample, checked against plain SQL over the marts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.segments.features import read_segment_features
from ml.segments.model import K_RANGE, SegmentResult, fit_segments

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def con(built_sample: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(built_sample), read_only=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def as_of(con: duckdb.DuckDBPyConnection) -> date:
    row = con.execute("select max(as_of_date) from marts.mart_kpis").fetchone()
    assert row is not None and row[0] is not None
    return row[0]


@pytest.fixture(scope="module")
def features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return read_segment_features(con)


@pytest.fixture(scope="module")
def result(features: pd.DataFrame) -> SegmentResult:
    return fit_segments(features)


@pytest.fixture(scope="module")
def expected_revenue(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """Completed-line revenue per known customer with a sale on or before as_of, straight from the lines."""
    return con.execute(
        """
        select l.customer_id, sum(l.revenue)::double as revenue
        from marts.fct_order_lines as l
        inner join marts.dim_customers as c on c.customer_id = l.customer_id
        where l.status = 'completed' and l.order_date <= $as_of and not c.is_unknown_member
        group by l.customer_id
        """,
        {"as_of": as_of},
    ).df()


def test_every_known_customer_with_a_sale_gets_exactly_one_segment(result, expected_revenue) -> None:
    segments = result.customer_segments
    assert segments["customer_id"].is_unique
    assert set(segments["customer_id"]) == set(expected_revenue["customer_id"])
    assert segments["segment_id"].notna().all() and segments["segment_name"].notna().all()
    assert (segments["as_of_date"] == result.as_of).all()


def test_segments_are_measured_at_the_marts_as_of_date(result, as_of) -> None:
    assert result.as_of == as_of


def test_k_is_chosen_by_silhouette_within_the_range(result) -> None:
    assert result.k in K_RANGE
    assert sorted(result.silhouette_scores) == list(K_RANGE)
    assert result.silhouette_scores[result.k] == max(result.silhouette_scores.values())
    assert result.segment_profiles["segment_id"].tolist() == list(range(1, result.k + 1))


def test_segment_names_are_unique_and_descriptive(result) -> None:
    profiles = result.segment_profiles
    assert profiles["segment_name"].is_unique
    assert profiles["description"].str.len().gt(0).all()
    by_id = dict(zip(profiles["segment_id"], profiles["segment_name"], strict=True))
    assert (result.customer_segments["segment_id"].map(by_id) == result.customer_segments["segment_name"]).all()


def test_profile_revenue_matches_the_order_lines(result, expected_revenue) -> None:
    per_customer = result.customer_segments.merge(expected_revenue, on="customer_id", validate="one_to_one")
    per_segment = per_customer.groupby("segment_id")["revenue"].sum()
    profiles = result.segment_profiles.set_index("segment_id")
    pd.testing.assert_series_equal(
        profiles["revenue"], per_segment.round(2), check_names=False, check_exact=False, atol=0.005
    )
    assert profiles["revenue"].sum() == pytest.approx(expected_revenue["revenue"].sum(), abs=0.01)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)
    assert profiles["customer_share"].sum() == pytest.approx(1.0)
    counts = result.customer_segments["segment_id"].value_counts()
    assert (profiles["customers"] == counts.reindex(profiles.index)).all()


def test_features_agree_with_dim_customers(con, features, as_of) -> None:
    """With the marts' own as-of date, frequency, revenue and recency are dim_customers' figures."""
    dim = con.execute(
        """
        select customer_id, orders, lifetime_revenue::double as lifetime_revenue, days_since_last_order
        from marts.dim_customers
        where not is_unknown_member and orders > 0
        """
    ).df()
    merged = features.merge(dim, on="customer_id", how="outer", validate="one_to_one", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert (merged["frequency"] == merged["orders"]).all()
    assert (merged["recency_days"] == merged["days_since_last_order"]).all()
    assert merged["revenue"].to_numpy() == pytest.approx(merged["lifetime_revenue"].to_numpy(), abs=0.005)
