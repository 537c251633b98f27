"""Per-customer behavioural features for the segments, read from the dbt feature models as of the as-of date.

The SQL lives in dbt (dbt_project/models/features/, ``_features__segments.yml`` documents every column):

* ``features.feat_segments__customer_behaviour``: one row per known customer (not the unknown member, not a
  guest) with at least one sale order on or before the as-of date: ``average_order_value``, ``frequency``
  (lifetime sale orders), ``recency_days``, ``return_rate``, ``revenue``, ``returned_revenue``, ``as_of_date``;
* ``features.feat_segments__category_shares``: one row per such customer x category sold on or before the as-of
  date (to anyone): the category's ``revenue_share`` of the customer's completed-line revenue. The ``Unknown``
  category (unknown product) has no row, but its revenue stays in the denominator, so a customer's shares sum to
  at most 1.

This module pivots the shares to one ``share_<category slug>`` column per category (slugs: accents stripped,
non-alphanumerics to ``_``, feat_category_slugs); ``frame.attrs["category_labels"]`` maps each share column to
the category's display name.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

from ml.warehouse import SAFE_SLUG, SHARE_PREFIX, features

logger = logging.getLogger(__name__)

BEHAVIOUR_MODEL = "feat_segments__customer_behaviour"
SHARES_MODEL = "feat_segments__category_shares"
CATEGORY_LABELS_ATTR = "category_labels"
BEHAVIOUR_COLUMNS: tuple[str, ...] = ("average_order_value", "frequency", "recency_days", "return_rate")
_OTHER_COLUMNS: tuple[str, ...] = ("revenue", "returned_revenue", "as_of_date")


def _category_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Slug -> display name of the categories of the shares, by slug."""
    rows = (
        features(con, SHARES_MODEL)
        .aggregate("category_slug, min(category) as category", "category_slug")
        .order("category_slug")
        .fetchall()
    )
    labels = {slug: label for slug, label in rows}
    # Slugs become column names; the slug macro guarantees this shape.
    unsafe = [s for s in labels if not SAFE_SLUG.match(s)]
    if unsafe:
        raise ValueError(f"unexpected category slugs: {unsafe}")
    return labels


def _shares(con: duckdb.DuckDBPyConnection, customers: pd.Series, slugs: list[str]) -> pd.DataFrame:
    """The shares pivoted to one column per slug, a row per customer of ``customers`` (0 where none)."""
    long = features(con, SHARES_MODEL).project("customer_id, category_slug, revenue_share").df()
    wide = long.pivot(index="customer_id", columns="category_slug", values="revenue_share") if len(long) else None
    frame = (wide if wide is not None else pd.DataFrame()).reindex(index=customers.to_numpy(), columns=slugs)
    frame = frame.fillna(0.0).astype("float64")
    frame.columns = [f"{SHARE_PREFIX}{s}" for s in slugs]
    return frame.reset_index(drop=True)


def read_segment_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per known customer with a sale on or before the as-of date, ordered by customer_id (module
    docstring).

    Columns: customer_id, ``share_<category>``..., average_order_value, frequency, recency_days, return_rate,
    revenue, returned_revenue, as_of_date.
    """
    behaviour = (
        features(con, BEHAVIOUR_MODEL)
        .project(", ".join(("customer_id", *BEHAVIOUR_COLUMNS, *_OTHER_COLUMNS)))
        .order("customer_id")
        .df()
    )
    labels = _category_labels(con)
    shares = _shares(con, behaviour["customer_id"], list(labels))
    # Built column by column, not concatenated: the floats then form one block, laid out as in a frame DuckDB
    # returns, and the K-means sums run in the same order (the pivot's own block moved the last bits of the
    # distances to the centroids, and so the model's fingerprint).
    columns = {"customer_id": behaviour["customer_id"], **{c: shares[c] for c in shares.columns}}
    columns.update({c: behaviour[c] for c in behaviour.columns if c != "customer_id"})
    frame = pd.DataFrame(columns)
    frame.attrs[CATEGORY_LABELS_ATTR] = {f"{SHARE_PREFIX}{s}": label for s, label in labels.items()}
    as_of = behaviour["as_of_date"].iloc[0] if len(behaviour) else None
    logger.info("read segment features of %d customers as of %s, %d categories", len(frame), as_of, len(labels))
    return frame
