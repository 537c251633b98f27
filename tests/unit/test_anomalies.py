"""Order-anomaly detector on a synthetic warehouse with the marts' table shapes (in-memory DuckDB), its features
built by the dbt feature model (tests/dbt_features.py).

About 3,000 ordinary orders (daytime, 1-3 products, 1-2 units, list price or a small discount, new
accounts starting small) plus a handful of planted outliers, each abnormal on a known feature.
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.anomalies import (
    OUTPUT_COLUMNS,
    build_order_features,
    detect_order_anomalies,
    detector,
    robust_z,
    write_order_anomalies,
)
from ml.anomalies.detector import DEVIATIONS
from ml.anomalies.features import FEATURES_MODEL
from tests.dbt_features import build_features

SCHEMA_SQL = """
create schema marts;
create table marts.dim_products (product_id varchar, list_price decimal(18, 2), is_unknown_member boolean);
create table marts.dim_customers (customer_id varchar, registered_on date, is_unknown_member boolean);
create table marts.fct_order_lines (
    order_id varchar, line_number integer, customer_id varchar, product_id varchar, source_product_id varchar,
    quantity integer, unit_price decimal(18, 2), is_sale boolean
);
create table marts.fct_orders (
    order_id varchar, customer_id varchar, ordered_at timestamp, order_date date, units bigint,
    revenue decimal(18, 2), is_sale boolean
);
"""
START = datetime(2024, 1, 1)
N_ORDERS = 3000
N_PRODUCTS = 60
N_OLD_CUSTOMERS = 500
N_NEW_CUSTOMERS = 120
# Daytime-heavy hour profile: the night (01:00-05:00) is rare but not empty.
HOUR_WEIGHTS = np.array([0.9, 0.3, 0.2, 0.2, 0.2, 0.3, 0.7, 1.4, 2.3, 2.9, 3.3, 3.6,
                         4.2, 4.0, 3.7, 3.6, 3.8, 4.3, 5.1, 6.4, 7.5, 7.8, 6.1, 3.4])
CONTAMINATION = 0.005  # 15 of ~3,000 orders


def _ordinary(rng: np.random.Generator, prices: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(customers, order lines) of the ordinary orders, drawn with vectorised numpy."""
    old_reg = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 300, N_OLD_CUSTOMERS), unit="D")
    new_reg = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, N_NEW_CUSTOMERS), unit="D")
    customers = pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(N_OLD_CUSTOMERS)] + [f"N{i:04d}" for i in range(N_NEW_CUSTOMERS)],
        "registered_on": np.concatenate([old_reg.date, new_reg.date]),
    })
    # The first N_NEW_CUSTOMERS orders are the new accounts' ordinary first orders, 0-3 days after registering.
    customer = np.where(rng.random(N_ORDERS) < 0.08, None,
                        customers["customer_id"].to_numpy()[rng.integers(0, N_OLD_CUSTOMERS, N_ORDERS)])
    customer[:N_NEW_CUSTOMERS] = customers["customer_id"].to_numpy()[N_OLD_CUSTOMERS:]
    day = pd.Timestamp(START) + pd.to_timedelta(rng.integers(0, 366, N_ORDERS), unit="D")
    first_day = pd.to_datetime(new_reg) + pd.to_timedelta(rng.integers(0, 4, N_NEW_CUSTOMERS), unit="D")
    day = np.concatenate([first_day.to_numpy(), day.to_numpy()[N_NEW_CUSTOMERS:]])
    hours = rng.choice(24, size=N_ORDERS, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    ordered_at = day + pd.to_timedelta(hours * 60 + rng.integers(0, 60, N_ORDERS), unit="min").to_numpy()
    size = rng.integers(1, 4, N_ORDERS)
    order = np.repeat(np.arange(N_ORDERS), size)
    line_number = np.arange(order.size) - np.repeat(np.cumsum(size) - size, size) + 1
    # Distinct products within an order: the first `size` of a random permutation per order.
    product = np.argsort(rng.random((N_ORDERS, N_PRODUCTS)), axis=1)[order, line_number - 1]
    factor = rng.choice([1.0, 1.0, 1.0, 0.9, 0.8], size=order.size)
    lines = pd.DataFrame({
        "order_id": np.char.mod("O%05d", order),
        "line_number": line_number,
        "customer_id": customer[order],
        "product": product,
        "quantity": rng.integers(1, 3, order.size),
        "unit_price": np.round(prices[product] * factor, 2),
        "is_sale": (rng.random(N_ORDERS) > 0.05)[order],
        "ordered_at": ordered_at[order],
    })
    return customers, lines


PLANTED = {
    # order_id: (customer, ordered_at, [(product index, quantity, price factor)], words the reason must contain)
    "X_BULK": ("C0001", datetime(2024, 5, 14, 14, 10), [(0, 14, 1.0)], "units of one product"),
    "X_MARKUP": ("C0002", datetime(2024, 6, 3, 15, 30), [(1, 1, 4.0), (2, 1, 4.0)], "the product's list price"),
    "X_NEW_NIGHT": ("NEWBIE", datetime(2024, 9, 9, 3, 12), [(0, 3, 1.0), (1, 3, 1.0), (3, 2, 1.0)],
                    "first order of an account opened the same day"),
    "X_HUGE": ("C0003", datetime(2024, 10, 1, 2, 40), [(p, 3, 1.0) for p in range(6)], "placed at 02:40"),
    "X_NIGHT_MARKUP": (None, datetime(2024, 11, 20, 4, 5), [(2, 2, 3.0), (4, 2, 3.0)], "list price"),
}


def _make_con(seed: int = 0, planted: bool = True) -> duckdb.DuckDBPyConnection:
    rng = np.random.default_rng(seed)
    # Most expensive products first: the planted orders use the top ones.
    prices = np.sort(np.round(np.exp(np.log(30.0) + 0.6 * rng.standard_normal(N_PRODUCTS)), 2))[::-1]
    customers, lines = _ordinary(rng, prices)
    if planted:
        customers = pd.concat([customers, pd.DataFrame({"customer_id": ["NEWBIE"],
                                                        "registered_on": [date(2024, 9, 9)]})])
        extra = pd.DataFrame([
            {"order_id": order_id, "line_number": n, "customer_id": customer, "product": p, "quantity": quantity,
             "unit_price": round(float(prices[p]) * factor, 2), "is_sale": True, "ordered_at": ordered_at}
            for order_id, (customer, ordered_at, items, _) in PLANTED.items()
            for n, (p, quantity, factor) in enumerate(items, start=1)
        ])
        lines = pd.concat([lines, extra], ignore_index=True)
    lines["product_id"] = np.char.mod("P%03d", lines["product"].to_numpy(dtype=np.int64))
    con = duckdb.connect()
    con.execute(SCHEMA_SQL)
    con.register("synthetic_products", pd.DataFrame({"product_id": np.char.mod("P%03d", np.arange(N_PRODUCTS)),
                                                     "list_price": prices}))
    con.register("synthetic_customers", customers)
    con.register("synthetic_lines", lines)
    con.execute("""insert into marts.dim_products select product_id, list_price, false from synthetic_products
        union all select 'UNKNOWN', null, true""")
    con.execute("insert into marts.dim_customers select customer_id, registered_on, false from synthetic_customers")
    con.execute("""insert into marts.fct_order_lines select order_id, line_number, customer_id, product_id,
        product_id, quantity, unit_price, is_sale from synthetic_lines""")
    con.execute("""insert into marts.fct_orders select order_id, any_value(customer_id), min(ordered_at),
        min(ordered_at)::date, coalesce(sum(quantity) filter (where is_sale), 0),
        coalesce(sum(quantity * unit_price) filter (where is_sale), 0), bool_or(is_sale)
        from synthetic_lines group by order_id""")
    for name in ("synthetic_products", "synthetic_customers", "synthetic_lines"):
        con.unregister(name)
    build_features(con, FEATURES_MODEL)
    return con


@pytest.fixture(scope="module")
def result() -> pd.DataFrame:
    return detect_order_anomalies(_make_con(), contamination=CONTAMINATION)


def test_one_row_per_sale_order_with_the_documented_columns(result: pd.DataFrame) -> None:
    con = _make_con()
    sale_orders = con.execute("select count(*) from marts.fct_orders where is_sale").fetchone()[0]
    assert list(result.columns) == list(OUTPUT_COLUMNS)
    assert len(result) == sale_orders and result["order_id"].is_unique
    assert result["anomaly_score"].between(0, 100).all()
    assert result["anomaly_rank"].tolist() == list(range(1, len(result) + 1))
    assert result["anomaly_score"].is_monotonic_decreasing
    assert result["is_anomaly"].sum() == pytest.approx(CONTAMINATION * len(result), abs=1)


def test_planted_outliers_are_caught(result: pd.DataFrame) -> None:
    planted = result[result["order_id"].isin(PLANTED)]
    assert len(planted) == len(PLANTED)
    assert planted["is_anomaly"].all(), planted[["order_id", "anomaly_score", "anomaly_rank", "reason"]]
    # They outrank every ordinary order.
    assert planted["anomaly_rank"].max() == len(PLANTED)


def test_reason_names_the_deviating_feature(result: pd.DataFrame) -> None:
    reasons = result.set_index("order_id")["reason"]
    for order_id, (*_, words) in PLANTED.items():
        assert words in reasons[order_id], (order_id, reasons[order_id])
    assert reasons["X_HUGE"].count(";") >= 1  # several deviations, separated
    assert (result.loc[~result["is_anomaly"], "reason"] == "nothing unusual").mean() > 0.5


def test_same_seed_same_result_and_other_seeds_agree_on_the_planted_orders(result: pd.DataFrame) -> None:
    again = detect_order_anomalies(_make_con(), contamination=CONTAMINATION)
    pd.testing.assert_frame_equal(result, again)
    other = detect_order_anomalies(_make_con(), contamination=CONTAMINATION, seed=11)
    assert set(other.loc[other["is_anomaly"], "order_id"]) >= set(PLANTED)


def test_without_outliers_nothing_planted_stands_out() -> None:
    clean = detect_order_anomalies(_make_con(planted=False), contamination=CONTAMINATION)
    flagged = clean[clean["is_anomaly"]]
    # The queue still holds its share, but of milder orders than any planted one.
    scored = detect_order_anomalies(_make_con(), contamination=CONTAMINATION)
    planted_min = scored.loc[scored["order_id"].isin(list(PLANTED)), "anomaly_score"].min()
    assert len(flagged) > 0 and flagged["anomaly_score"].max() < planted_min


def test_features_hand_computed() -> None:
    con = duckdb.connect()
    con.execute(SCHEMA_SQL)
    con.execute("""insert into marts.dim_products values ('P1', 10.00, false), ('P2', 0, false),
        ('UNKNOWN', null, true)""")
    con.execute("""insert into marts.dim_customers values ('C1', '2024-03-01', false), ('C2', '2020-01-01', false),
        ('UNKNOWN', null, true)""")
    con.execute("""insert into marts.fct_order_lines values
        ('A', 1, 'C1', 'P1', 'P1', 2, 30.00, true),      -- 3x the list price
        ('A', 2, 'C1', 'P1', 'P1', 1, 10.00, true),      -- same product again: 3 units of one product
        ('A', 3, 'C1', 'P2', 'P2', 5, 1.00, false),      -- cancelled line: not counted
        ('B', 1, 'C1', 'P2', 'P2', 1, 4.00, true),       -- no list price: compared with its usual price
        ('B', 2, 'C1', 'UNKNOWN', 'P9', 1, 7.00, true),
        ('C', 1, null, 'P1', 'P1', 1, 10.00, true),      -- guest; both lines at their reference price
        ('C', 2, null, 'UNKNOWN', 'P9', 1, 7.00, true),
        ('D', 1, 'C2', 'P1', 'P1', 1, 10.00, false),     -- cancelled order: no row
        ('E', 1, 'UNKNOWN', 'UNKNOWN', 'P9', 1, 7.00, true),
        ('F', 1, 'C2', 'P2', 'P2', 1, 2.00, true)""")
    con.execute("""insert into marts.fct_orders values
        ('A', 'C1', '2024-03-03 02:15:00', '2024-03-03', 3, 70.00, true),
        ('B', 'C1', '2024-04-01 10:00:00', '2024-04-01', 2, 11.00, true),
        ('C', null, '2024-04-02 10:30:00', '2024-04-02', 2, 17.00, true),
        ('D', 'C2', '2024-01-01 09:00:00', '2024-01-01', 0, 0, false),
        ('E', 'UNKNOWN', '2024-04-03 11:00:00', '2024-04-03', 1, 7.00, true),
        ('F', 'C2', '2024-04-04 10:00:00', '2024-04-04', 1, 2.00, true)""")
    build_features(con, FEATURES_MODEL)
    f = build_order_features(con, new_account_days=7).set_index("order_id")
    assert list(f.index) == ["A", "B", "C", "E", "F"]
    a, b = f.loc["A"], f.loc["B"]
    assert (a["order_amount"], a["units"], a["products"], a["max_units_one_product"]) == (70.0, 3, 1, 3)
    assert a["price_ratio"] == pytest.approx(3.0) and a["price_reference"] == "list price"
    assert a["order_hour"] == 2 and a["account_age_days"] == 2
    assert a["is_first_order"] and a["is_new_account_first_order"]
    assert b["price_ratio"] == pytest.approx(4.0 / 3.0)  # P2 sold at 4.00 and 2.00: usual price 3.00
    assert b["price_reference"] == "usual price" and not b["is_first_order"]
    assert f.loc["C", "hour_share"] == pytest.approx(3 / 5)  # three of five sale orders in the 10:00 hour
    assert pd.isna(f.loc["C", "account_age_days"]) and not f.loc["C", "is_first_order"]
    # A tie between a list-priced and an unpriced line names the list price, whatever the row order.
    assert f.loc["C", "price_ratio"] == pytest.approx(1.0) and f.loc["C", "price_reference"] == "list price"
    assert pd.isna(f.loc["E", "account_age_days"]) and not f.loc["E", "is_first_order"]
    # C2's first order (D) was cancelled: F is a later order of an old account.
    assert not f.loc["F", "is_first_order"] and not f.loc["F", "is_new_account_first_order"]


def test_robust_z() -> None:
    z = robust_z(np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan]))
    assert z[2] == 0 and z[4] == pytest.approx(97 / 1.4826) and np.isnan(z[5])
    # More than half the values tied: the MAD is 0, the mean absolute deviation takes over.
    tied = robust_z(np.array([1.0, 1.0, 1.0, 1.0, 5.0]))
    assert tied[4] == pytest.approx(4 / (1.2533 * 0.8))
    assert (robust_z(np.ones(4)) == 0).all()


def test_empty_warehouse_and_bad_contamination() -> None:
    con = duckdb.connect()
    con.execute(SCHEMA_SQL)
    build_features(con, FEATURES_MODEL)
    empty = detect_order_anomalies(con)
    assert empty.empty and list(empty.columns) == list(OUTPUT_COLUMNS)
    with pytest.raises(ValueError, match="contamination"):
        detect_order_anomalies(con, contamination=0.0)


def test_chunked_scoring_gives_the_same_table(result: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring 700 orders at a time (several chunks, two threads each) changes nothing."""
    monkeypatch.setattr(detector, "CHUNK_ROWS", 700)
    pd.testing.assert_frame_equal(detect_order_anomalies(_make_con(), contamination=CONTAMINATION), result)


def test_a_forest_fitted_on_a_sample_still_catches_the_planted_orders(
    result: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above FIT_SAMPLE_ROWS the forest learns from a seeded sample; scores, cut and reasons cover every order."""
    monkeypatch.setattr(detector, "FIT_SAMPLE_ROWS", 2000)  # two thirds of the orders
    sampled = detect_order_anomalies(_make_con(), contamination=CONTAMINATION)
    assert len(sampled) == len(result) and sampled["anomaly_rank"].tolist() == list(range(1, len(result) + 1))
    assert sampled["is_anomaly"].sum() == pytest.approx(CONTAMINATION * len(result), abs=1)
    flagged = set(sampled.loc[sampled["is_anomaly"], "order_id"])
    assert flagged >= set(PLANTED)
    pd.testing.assert_frame_equal(sampled, detect_order_anomalies(_make_con(), contamination=CONTAMINATION))
    # The deviations do not depend on the forest: the same as with every order fitted.
    by_id = sampled.set_index("order_id").loc[result["order_id"]]
    np.testing.assert_array_equal(by_id[list(DEVIATIONS)].to_numpy(), result[list(DEVIATIONS)].to_numpy())


def test_write_order_anomalies_writes_the_table_detect_returns(result: pd.DataFrame) -> None:
    con = _make_con()
    summary = write_order_anomalies(con, contamination=CONTAMINATION)
    table = con.execute("select * from ml.order_anomalies order by anomaly_rank").df()
    assert summary.rows == len(result) and summary.flagged == int(result["is_anomaly"].sum())
    assert summary.flagged_amount == pytest.approx(result.loc[result["is_anomaly"], "order_amount"].sum())
    assert summary.top_reasons == result.loc[result["is_anomaly"], "reason"].head(5).tolist()
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_schema = 'ml' and table_name = 'order_anomalies'").fetchall())
    assert types["order_amount"] == "DECIMAL(18,2)" and types["anomaly_rank"] == "BIGINT"
    columns = ["order_id", "anomaly_score", "anomaly_rank", "is_anomaly", "reason", *DEVIATIONS]
    pd.testing.assert_frame_equal(table[columns], result[columns])
    # No temporary table is left behind on the caller's connection.
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone() == (0,)
