"""Behavioural segments on hand-made and planted data in an in-memory DuckDB shaped like the marts, the features
built by the dbt feature models (tests/dbt_features.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.segments.features import BEHAVIOUR_MODEL, CATEGORY_LABELS_ATTR, SHARES_MODEL, read_segment_features
from ml.segments.model import K_RANGE, SegmentResult, assign_segments, choose_k, fit_segment_model, fit_segments
from ml.segments.naming import FALLBACK_NAME, Candidate, assign_names, name_segments
from ml.segments.registry import SegmentModelNotFoundError, load_segment_model, save_segment_model
from tests.dbt_features import build_features

AS_OF = date(2025, 6, 30)

# Only the columns the feature models read. int_customer_orders is a view over the lines, as in dbt.
SCHEMA_SQL = """
create schema marts;
create schema intermediate;
create table marts.dim_customers (customer_id varchar, is_unknown_member boolean);
create table marts.fct_order_lines (
    order_id varchar, customer_id varchar, category varchar, order_date date, status varchar, is_sale boolean,
    revenue decimal(18, 2)
);
create view intermediate.int_customer_orders as
    select customer_id, order_id, min(order_date) as order_date,
           sum(case when is_sale then revenue else 0 end)::decimal(18, 2) as revenue, bool_or(is_sale) as is_sale
    from marts.fct_order_lines
    where customer_id is not null
    group by customer_id, order_id;
"""


def _warehouse(customers: pd.DataFrame, lines: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(SCHEMA_SQL)
    con.register("_customers", customers)
    con.register("_lines", lines)
    con.execute("insert into marts.dim_customers by name select * from _customers")
    con.execute(
        "insert into marts.fct_order_lines by name "
        "select * replace (order_date::date as order_date, revenue::decimal(18, 2) as revenue) from _lines"
    )
    con.unregister("_customers")
    con.unregister("_lines")
    return con


def build_segment_features(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """The segment features as of ``as_of``: the dbt feature models built on the connection's tables, then read."""
    build_features(con, "feat_category_slugs", BEHAVIOUR_MODEL, SHARES_MODEL, as_of=as_of)
    return read_segment_features(con)


def _lines(rows: list[tuple[str, str | None, str, date, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "category", "order_date", "status", "revenue"])
    frame["is_sale"] = frame["status"] == "completed"
    return frame


# --------------------------------------------------------------------------------------------
# Features on a hand-made warehouse
# --------------------------------------------------------------------------------------------

HAND_CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["C1", "C2", "C3", "C4", "C5", "UNKNOWN"],
        "is_unknown_member": [False, False, False, False, False, True],
    }
)
HAND_LINES = _lines(
    [
        ("O1", "C1", "Electronics", date(2025, 1, 10), "completed", 300),
        ("O1", "C1", "Books", date(2025, 1, 10), "completed", 100),
        ("O2", "C1", "Books", date(2025, 6, 20), "completed", 100),
        ("O2", "C1", "Unknown", date(2025, 6, 20), "completed", 100),  # unknown product: in revenue, no column
        ("O3", "C1", "Fashion", date(2025, 3, 1), "returned", 100),
        ("O4", "C1", "Fashion", date(2025, 4, 1), "cancelled", 50),  # neither sold nor returned
        ("O5", "C1", "Fashion", date(2025, 7, 5), "completed", 1000),  # after as_of
        ("O6", "C2", "Beauté", date(2025, 6, 30), "completed", 50),  # on as_of: included, recency 0
        ("O7", "C3", "Fashion", date(2025, 5, 1), "returned", 80),  # no sale: not in the population
        ("O8", "C4", "Garden", date(2025, 7, 1), "completed", 70),  # sale after as_of only: excluded
        ("O9", "C5", "Fashion", date(2025, 2, 1), "completed", 0),  # zero-priced sale: included, shares 0
        ("O10", "UNKNOWN", "Fashion", date(2025, 2, 1), "completed", 40),  # unknown member: excluded
        ("O11", None, "Fashion", date(2025, 2, 1), "completed", 40),  # guest: excluded
    ]
)


@pytest.fixture
def hand_con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = _warehouse(HAND_CUSTOMERS, HAND_LINES)
    yield con
    con.close()


def test_population_is_known_customers_with_a_sale_on_or_before_as_of(hand_con) -> None:
    features = build_segment_features(hand_con, AS_OF)
    assert features["customer_id"].tolist() == ["C1", "C2", "C5"]


def test_features_follow_the_definitions(hand_con) -> None:
    features = build_segment_features(hand_con, AS_OF).set_index("customer_id")
    c1 = features.loc["C1"]
    revenue = 300 + 100 + 100 + 100  # O1 and O2; the unknown-product line counts in revenue
    assert c1["revenue"] == pytest.approx(revenue)
    assert c1["frequency"] == 2
    assert c1["average_order_value"] == pytest.approx(revenue / 2)
    assert c1["recency_days"] == (AS_OF - date(2025, 6, 20)).days
    assert c1["share_electronics"] == pytest.approx(300 / revenue)
    assert c1["share_books"] == pytest.approx(200 / revenue)
    assert c1["share_fashion"] == 0.0  # only returned, cancelled or later Fashion lines
    assert c1["returned_revenue"] == pytest.approx(100)
    assert c1["return_rate"] == pytest.approx(100 / (revenue + 100))

    c2 = features.loc["C2"]
    assert c2["recency_days"] == 0
    assert c2["share_beaute"] == pytest.approx(1.0)
    assert c2["return_rate"] == 0.0

    c5 = features.loc["C5"]  # zero-priced sale: 0, never null
    assert c5["average_order_value"] == 0.0
    assert (c5.filter(like="share_") == 0.0).all()
    assert c5["return_rate"] == 0.0
    assert features["as_of_date"].eq(pd.Timestamp(AS_OF)).all()


def test_category_columns_are_the_categories_sold_by_as_of_with_their_labels(hand_con) -> None:
    features = build_segment_features(hand_con, AS_OF)
    shares = [c for c in features.columns if c.startswith("share_")]
    # Garden is sold only after as_of; Unknown has no column.
    assert shares == ["share_beaute", "share_books", "share_electronics", "share_fashion"]
    assert features.attrs[CATEGORY_LABELS_ATTR]["share_beaute"] == "Beauté"
    assert features[shares].sum(axis=1).le(1.0 + 1e-12).all()


def test_later_rows_do_not_change_the_features(hand_con) -> None:
    before = build_segment_features(hand_con, AS_OF)
    later = AS_OF + timedelta(days=1)
    hand_con.execute(
        "insert into marts.fct_order_lines values "
        "('O20', 'C1', 'Toys', $d, 'completed', true, 500), ('O21', 'C2', 'Beauté', $d, 'returned', false, 50)",
        {"d": later},
    )
    after = build_segment_features(hand_con, AS_OF)
    pd.testing.assert_frame_equal(before, after)


# --------------------------------------------------------------------------------------------
# Planted clusters
# --------------------------------------------------------------------------------------------

SPREAD = ("Fashion", "Home & Kitchen", "Books", "Beauty")  # one equal line each: shares exactly 1/4

# name expected from the rules, customers, orders range, revenue per order, days since last order range,
# categories of every order, returned orders per sale order.
PLANTED: dict[str, tuple[str, int, tuple[int, int], float, tuple[int, int], tuple[str, ...], int]] = {
    "electronics": ("Electronics enthusiasts", 70, (3, 6), 250.0, (20, 200), ("Electronics",), 0),
    "loyal": ("Loyal regulars", 90, (20, 31), 170.0, (0, 6), SPREAD, 0),
    "returners": ("Serial returners", 55, (4, 7), 120.0, (30, 200), SPREAD, 1),
    "lapsed": ("Lapsed big spenders", 40, (2, 4), 700.0, (550, 700), SPREAD, 0),
}
ORDER_GAP_DAYS = 9


def _planted(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(dim_customers, fct_order_lines, customer -> planted group); vectorised, per group."""
    rng = np.random.default_rng(seed)
    customers: list[pd.DataFrame] = []
    lines: list[pd.DataFrame] = []
    for group, (_, n, orders_range, order_value, recency_range, categories, returns) in PLANTED.items():
        ids = np.char.add(f"{group[:3].upper()}", np.char.zfill(np.arange(n).astype(str), 4))
        customers.append(pd.DataFrame({"customer_id": ids, "group": group}))
        orders = rng.integers(*orders_range, size=n)
        last = rng.integers(*recency_range, size=n)
        cust = np.repeat(ids, orders)
        k = np.concatenate([np.arange(m) for m in orders])  # 0 = the most recent order
        days_ago = np.repeat(last, orders) + ORDER_GAP_DAYS * k
        value = order_value * np.exp(rng.normal(0.0, 0.05, size=len(cust)))
        order_ids = np.char.add(np.char.add(cust, "-"), k.astype(str))
        # Each order has one line per category with an equal part of its value.
        n_cat = len(categories)
        sale = pd.DataFrame(
            {
                "order_id": np.repeat(order_ids, n_cat),
                "customer_id": np.repeat(cust, n_cat),
                "category": np.tile(np.asarray(categories), len(cust)),
                "order_date": np.repeat([AS_OF - timedelta(days=int(d)) for d in days_ago], n_cat),
                "status": "completed",
                "revenue": np.repeat(np.round(value / n_cat, 2), n_cat),
            }
        )
        lines.append(sale)
        if returns:
            returned = sale.assign(order_id=sale["order_id"] + "-R", status="returned")
            lines.append(returned)
    frame = pd.concat(lines, ignore_index=True)
    frame["is_sale"] = frame["status"] == "completed"
    groups = pd.concat(customers, ignore_index=True)
    dim = groups[["customer_id"]].assign(is_unknown_member=False)
    return dim, frame, groups


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    dim, lines, groups = _planted()
    con = _warehouse(dim, lines)
    try:
        features = build_segment_features(con, AS_OF)
    finally:
        con.close()
    return features, groups


@pytest.fixture(scope="module")
def planted_result(planted) -> SegmentResult:
    features, _ = planted
    return fit_segments(features)


def test_planted_clusters_are_recovered_with_their_k_and_names(planted, planted_result) -> None:
    _, groups = planted
    result = planted_result
    assert result.k == len(PLANTED)
    assigned = result.customer_segments.merge(groups, on="customer_id", validate="one_to_one")
    # Every planted group is exactly one segment, and each segment exactly one group.
    pairs = assigned.groupby("group")["segment_name"].agg(lambda s: set(s))
    assert all(len(names) == 1 for names in pairs)
    got = {group: next(iter(names)) for group, names in pairs.items()}
    assert got == {group: spec[0] for group, spec in PLANTED.items()}


def test_every_k_is_scored_and_the_best_silhouette_wins(planted_result) -> None:
    result = planted_result
    assert sorted(result.silhouette_scores) == list(K_RANGE)
    assert all(-1.0 <= s <= 1.0 for s in result.silhouette_scores.values())
    assert result.k in K_RANGE
    assert result.silhouette_scores[result.k] == max(result.silhouette_scores.values())


def test_same_data_gives_the_same_assignments_and_names(planted, planted_result) -> None:
    features, _ = planted
    first, second = planted_result, fit_segments(features.copy())
    pd.testing.assert_frame_equal(first.customer_segments, second.customer_segments)
    pd.testing.assert_frame_equal(first.segment_profiles, second.segment_profiles)
    assert first.silhouette_scores == second.silhouette_scores


def test_shuffled_rows_give_the_same_result(planted, planted_result) -> None:
    features, _ = planted
    shuffled = features.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(planted_result.customer_segments, fit_segments(shuffled).customer_segments)


def test_relabelled_customers_keep_their_segment_names(planted, planted_result) -> None:
    features, _ = planted
    rng = np.random.default_rng(5)
    new_ids = pd.Series(np.char.add("X", rng.permutation(len(features)).astype(str)), index=features["customer_id"])
    relabelled = features.assign(customer_id=features["customer_id"].map(new_ids).to_numpy())
    original = planted_result.customer_segments.set_index("customer_id")
    renamed = fit_segments(relabelled).customer_segments.set_index("customer_id")
    back = renamed.loc[new_ids.loc[original.index].to_numpy()]
    assert back["segment_name"].tolist() == original["segment_name"].tolist()
    assert back["segment_id"].tolist() == original["segment_id"].tolist()


def test_segment_ids_follow_size_and_profiles_add_up(planted, planted_result) -> None:
    features, _ = planted
    result = planted_result
    profiles = result.segment_profiles
    assert profiles["segment_id"].tolist() == list(range(1, result.k + 1))
    assert profiles["customers"].is_monotonic_decreasing
    assert profiles["customers"].sum() == len(features)
    assert profiles["customer_share"].sum() == pytest.approx(1.0)
    assert profiles["revenue_share"].sum() == pytest.approx(1.0)
    assert profiles["revenue"].sum() == pytest.approx(features["revenue"].sum(), abs=0.01 * result.k)
    assert profiles["segment_name"].is_unique
    counts = result.customer_segments["segment_id"].value_counts().sort_index()
    assert counts.tolist() == profiles["customers"].tolist()
    assert profiles["description"].str.contains(" customers, ").all()
    assert (result.customer_segments["distance_to_centroid"] >= 0).all()
    assert (result.customer_segments["as_of_date"] == AS_OF).all() and (profiles["as_of_date"] == AS_OF).all()


def test_run_metadata_is_json_ready(planted_result) -> None:
    metadata = json.loads(json.dumps(planted_result.metadata(), allow_nan=False))
    assert metadata["k"] == planted_result.k
    assert metadata["silhouette_scores"] == {str(k): round(s, 6) for k, s in planted_result.silhouette_scores.items()}
    assert sum(metadata["segments"].values()) == metadata["customers"]
    assert metadata["as_of_date"] == AS_OF.isoformat()


def test_outputs_write_to_duckdb_with_warehouse_types(planted_result) -> None:
    con = duckdb.connect()
    con.register("segments", planted_result.customer_segments)
    con.register("profiles", planted_result.segment_profiles)
    types = dict(con.execute("select column_name, column_type from (describe segments)").fetchall())
    assert types == {
        "customer_id": "VARCHAR",
        "segment_id": "BIGINT",
        "segment_name": "VARCHAR",
        "distance_to_centroid": "DOUBLE",
        "as_of_date": "DATE",
    }
    assert con.execute("select count(*) from profiles where as_of_date = $d", {"d": AS_OF}).fetchone() == (
        planted_result.k,
    )


def test_profile_figures_are_in_business_units(planted, planted_result) -> None:
    features, groups = planted
    result = planted_result
    profile = result.segment_profiles.set_index("segment_name").loc["Electronics enthusiasts"]
    members = features.merge(groups, on="customer_id").query("group == 'electronics'")
    assert profile["customers"] == len(members)
    aov = members["revenue"].sum() / members["frequency"].sum()
    assert profile["average_order_value"] == pytest.approx(aov, abs=0.01)
    assert profile["orders_per_customer"] == pytest.approx(members["frequency"].mean())
    assert profile["recency_days_median"] == pytest.approx(members["recency_days"].median())
    assert profile["top_category"] == "Electronics"
    assert profile["top_category_share"] == pytest.approx(1.0)
    assert "100 % of spend on Electronics" in profile["description"]
    returners = result.segment_profiles.set_index("segment_name").loc["Serial returners"]
    assert returners["return_rate"] == pytest.approx(0.5, abs=0.01)  # every sale order is returned once


def test_a_saved_model_assigns_every_customer_as_the_fit_did(planted, planted_result, tmp_path) -> None:
    features, _ = planted
    with pytest.raises(SegmentModelNotFoundError):
        load_segment_model(tmp_path)
    save_segment_model(planted_result.model, tmp_path)
    loaded = load_segment_model(tmp_path)
    assert loaded == planted_result.model and loaded.version.startswith(f"segments-{AS_OF.isoformat()}-")
    again = assign_segments(loaded, features.sample(frac=1.0, random_state=1))
    pd.testing.assert_frame_equal(again.customer_segments, planted_result.customer_segments)
    pd.testing.assert_frame_equal(again.segment_profiles, planted_result.segment_profiles)
    # The same data fits the same model, under the same version.
    assert fit_segment_model(features).version == planted_result.model.version


def test_assignment_reads_the_models_columns_only(planted, planted_result) -> None:
    """A category first sold after the fit is left out; one the features lack counts as a zero share."""
    features, _ = planted
    shifted = features.assign(share_toys=0.0).drop(columns=["share_books"])
    model = planted_result.model
    result = assign_segments(model, shifted)
    assert result.feature_columns == model.feature_columns
    untouched = set(features.loc[features["share_books"] == 0, "customer_id"])  # no books share to lose
    assert untouched
    both = result.customer_segments.merge(planted_result.customer_segments, on="customer_id", suffixes=("", "_fit"))
    kept = both[both["customer_id"].isin(untouched)]
    assert (kept["segment_id"] == kept["segment_id_fit"]).all()
    assert (kept["distance_to_centroid"] == kept["distance_to_centroid_fit"]).all()


def test_a_bounded_fit_sample_finds_the_same_segments(planted, planted_result) -> None:
    """K-means on a seeded sample of the customers, every customer assigned to its nearest centroid."""
    features, groups = planted
    sampled = fit_segments(features, fit_sample_rows=120)
    assert sampled.model.fit_rows == 120 and sampled.model.customers == len(features)
    assert sampled.k == planted_result.k
    assert sampled.segment_profiles["customers"].sum() == len(features)
    assigned = sampled.customer_segments.merge(groups, on="customer_id")
    assert (assigned.groupby("group")["segment_name"].nunique() == 1).all()
    again = fit_segments(features, fit_sample_rows=120)
    pd.testing.assert_frame_equal(sampled.customer_segments, again.customer_segments)


def test_too_few_customers_is_an_error(planted) -> None:
    features, _ = planted
    with pytest.raises(ValueError, match="too few"):
        fit_segments(features.head(3))


# --------------------------------------------------------------------------------------------
# Naming rules
# --------------------------------------------------------------------------------------------

LABELS = {"share_electronics": "Electronics", "share_fashion": "Fashion", "share_beauty": "Beauty"}
Z_COLUMNS = [*LABELS, "average_order_value", "frequency", "recency_days", "return_rate"]


def _centroids(rows: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=Z_COLUMNS, index=pd.RangeIndex(1, len(rows) + 1, name="segment_id"))


def _spend(rows: list[list[float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(LABELS), index=pd.RangeIndex(1, len(rows) + 1, name="segment_id"))


CENTROIDS = _centroids(
    [
        # elec  fash  beauty aov  freq   recency returns
        [2.0, -0.5, -0.5, 1.0, 0.0, 0.0, 0.0],  # Electronics enthusiasts
        [-0.5, 1.2, 0.9, 0.0, -0.6, 0.4, 0.0],  # Fashion and Beauty enthusiasts
        [0.0, 0.0, 0.0, 1.0, -0.2, 1.5, 0.0],  # Lapsed big spenders
        [0.0, 0.0, 0.0, -0.9, 1.2, -0.3, 0.0],  # Bargain hunters
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0],  # Serial returners
        [0.1, 0.1, 0.0, 0.1, 0.1, -0.1, 0.0],  # no trait
    ]
)
SPEND = _spend(
    [
        [0.9, 0.05, 0.05],
        [0.05, 0.6, 0.3],
        [0.3, 0.3, 0.3],
        [0.3, 0.3, 0.3],
        [0.3, 0.3, 0.3],
        [0.3, 0.3, 0.3],
    ]
)
EXPECTED_NAMES = [
    "Electronics enthusiasts",
    "Fashion and Beauty enthusiasts",
    "Lapsed big spenders",
    "Bargain hunters",
    "Serial returners",
    FALLBACK_NAME,
]


def test_names_follow_the_rules() -> None:
    assert name_segments(CENTROIDS, SPEND, LABELS) == EXPECTED_NAMES


def test_segment_naming_is_stable() -> None:
    """Same centroids give the same names, and a segment's name does not depend on its position."""
    assert name_segments(CENTROIDS, SPEND, LABELS) == name_segments(CENTROIDS.copy(), SPEND.copy(), LABELS)
    order = [4, 2, 0, 5, 3, 1]
    permuted = name_segments(CENTROIDS.iloc[order], SPEND.iloc[order], LABELS)
    assert permuted == [EXPECTED_NAMES[i] for i in order]


def test_a_low_category_share_is_not_an_enthusiast() -> None:
    # Far above the average share, but a fifth of the spend only.
    names = name_segments(_centroids([[2.0, 0, 0, 0, 0, 0, 0]]), _spend([[0.2, 0.4, 0.4]]), LABELS)
    assert names == [FALLBACK_NAME]


def test_duplicate_names_are_disambiguated_in_canonical_order() -> None:
    # Two electronics segments: the stronger takes the name, the other gets a suffix; two traitless segments too.
    centroids = _centroids(
        [
            [1.0, 0, 0, 0, 0, 0, 0],
            [0.1, 0, 0, 0, 0, 0, 0],
            [2.0, 0, 0, 0, 0, 0, 0],
            [0.0, 0, 0, 0, 0, 0, 0],
        ]
    )
    spend = _spend([[0.9, 0.05, 0.05], [0.3, 0.3, 0.3], [0.9, 0.05, 0.05], [0.3, 0.3, 0.3]])
    names = name_segments(centroids, spend, LABELS)
    assert names == [
        "Electronics enthusiasts (2)",
        FALLBACK_NAME,
        "Electronics enthusiasts",
        f"{FALLBACK_NAME} (2)",
    ]


def test_ties_go_to_the_segment_first_in_canonical_order() -> None:
    same = [Candidate("Big spenders", 1.0, 3)]
    assert assign_names([same, same]) == ["Big spenders", "Big spenders (2)"]


def test_choose_k_prefers_the_smaller_k_on_ties_and_skips_nan() -> None:
    assert choose_k({3: 0.2, 4: 0.3, 5: 0.3, 6: float("nan")}) == 4
    with pytest.raises(ValueError):
        choose_k({3: float("nan")})
