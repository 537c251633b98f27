"""Per-order inputs of the order-anomaly detector: the dbt feature model ``features.feat_anomalies__orders``.

One row per completed sale order (``fct_orders.is_sale``: at least one completed line); money and units count
the completed lines only, as the marts count them. The SQL lives in dbt
(dbt_project/models/features/feat_anomalies__orders.sql, its YAML documents every column); this module reads
it. Columns:

* ``order_amount``: completed revenue of the order;
* ``units`` and ``products``: items on the order and distinct products among them;
* ``max_units_one_product``: the most units of a single product (many units of one item);
* ``price_ratio``: the highest unit price paid on the order divided by that product's reference price,
  its list price or, when the product has none (unknown or unpriced product), the median unit price it sold
  at; ``price_reference`` says which one;
* ``order_hour`` and ``hour_share``: hour of day the order was placed and the share of all sale orders
  placed in that hour (how quiet that hour is);
* ``account_age_days``: days between the customer's registration and the order (null for guests and
  unknown customers); ``is_first_order``: the customer's first order of any status;
* ``is_new_account_first_order``, added here: a first order placed at most ``new_account_days`` after
  registering (the detector's setting, so it stays beside the detector rather than in dbt).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ml.warehouse import features

FEATURES_MODEL = "feat_anomalies__orders"
ORDER_KEY = "order_id"  # the detector reads the orders in this order: its means and the forest's fit depend on it


def _check(new_account_days: int) -> int:
    if isinstance(new_account_days, bool) or not isinstance(new_account_days, int):
        raise TypeError("new_account_days must be an int")
    if new_account_days < 0:
        raise ValueError("new_account_days must be >= 0")
    return new_account_days


def order_features(con: duckdb.DuckDBPyConnection, *, new_account_days: int) -> duckdb.DuckDBPyRelation:
    """The feature model with ``is_new_account_first_order``, as a relation (nothing is read yet)."""
    days = _check(new_account_days)
    return features(con, FEATURES_MODEL).project(
        f"*, is_first_order and account_age_days between 0 and {days} as is_new_account_first_order"
    )


def build_order_features(con: duckdb.DuckDBPyConnection, *, new_account_days: int) -> pd.DataFrame:
    """The features of every order as a frame, ordered by order_id (for small data and tests: the detector
    reads the relation in chunks instead)."""
    return order_features(con, new_account_days=new_account_days).order(ORDER_KEY).df()
