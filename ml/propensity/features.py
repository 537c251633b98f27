"""The purchase-propensity model's inputs, read from the dbt feature models (DECISIONS.md "Features in dbt").

The SQL lives in ``dbt_project/models/features/feat_propensity__*.sql`` (grain, descriptions and tests in
``_features__propensity.yml``); this module only reads those tables through :func:`ml.warehouse.features`:

* ``feat_propensity__cutoffs``: the cutoff plan (label window, training, evaluation and scoring cutoffs);
* ``feat_propensity__customer_cutoffs``: point-in-time features per (customer, cutoff): every feature reads only
  events dated strictly before the cutoff (windows ``[cutoff - N days, cutoff)``); training rows are a hash sample
  at scale (DECISIONS.md "Propensity training sample");
* ``feat_propensity__category_shares`` (long: customer, cutoff, category, share), pivoted here into one
  ``share_<category>`` column per category of ``feat_propensity__cutoff_categories`` at the latest cutoff asked for;
* ``feat_propensity__labels``: label = a sale order in ``[cutoff, cutoff + horizon)``.

The frames keep the layout the model was built on: one row per (customer, cutoff) in (cutoff, customer_id) order,
the feature columns, then the share columns in category order (and ``label`` last when asked for).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pandas as pd
import pyarrow as pa

from ml.warehouse import FEATURES_SCHEMA, SAFE_SLUG, SHARE_PREFIX, InsufficientDataError, features

logger = logging.getLogger(__name__)

CUTOFFS_MODEL = "feat_propensity__cutoffs"
CUSTOMER_CUTOFFS_MODEL = "feat_propensity__customer_cutoffs"
CATEGORY_SHARES_MODEL = "feat_propensity__category_shares"
CUTOFF_CATEGORIES_MODEL = "feat_propensity__cutoff_categories"
LABELS_MODEL = "feat_propensity__labels"
# Every feature model this package reads: the Dagster assets depend on exactly these.
FEATURE_MODELS: tuple[str, ...] = (
    CUTOFFS_MODEL, CUSTOMER_CUTOFFS_MODEL, CATEGORY_SHARES_MODEL, CUTOFF_CATEGORIES_MODEL, LABELS_MODEL,
)
FEATURE_TABLES: tuple[tuple[str, str], ...] = tuple((FEATURES_SCHEMA, model) for model in FEATURE_MODELS)
KEY = "customer_id, cutoff"
ORDER = "cutoff, customer_id"


@dataclass(frozen=True)
class CutoffPlan:
    """feat_propensity__cutoffs as Python values (the model's time layout: ml/propensity/model.py)."""

    as_of: date
    horizon_days: int
    eval_cutoff: date
    scoring_cutoff: date
    training_cutoffs: list[date]  # oldest first
    first_order_date: date | None
    max_training_cutoffs: int
    max_training_rows: int

    @property
    def validation_cutoff(self) -> date:
        return self.training_cutoffs[-1]

    def require_training(self) -> CutoffPlan:
        """This plan, or InsufficientDataError when the history holds fewer than two training windows."""
        if self.first_order_date is None:
            raise InsufficientDataError("no sale orders to learn from")
        if len(self.training_cutoffs) < 2:
            raise InsufficientDataError(
                f"need at least two training cutoffs after the first order ({self.first_order_date}) "
                f"and before {self.eval_cutoff}; got {len(self.training_cutoffs)} with a {self.horizon_days}-day window"
            )
        return self


def read_cutoff_plan(con: duckdb.DuckDBPyConnection) -> CutoffPlan:
    """The cutoff plan dbt made (feat_propensity__cutoffs); call ``require_training()`` before training on it."""
    plan = features(con, CUTOFFS_MODEL).order("cutoff").df()
    if plan.empty:
        raise ValueError(f"features.{CUTOFFS_MODEL} is empty: build the dbt feature models first")
    by_role = plan.groupby("cutoff_role")["cutoff"].agg(list)
    first = plan.iloc[0]
    first_order = first["first_order_date"]
    return CutoffPlan(
        as_of=pd.Timestamp(first["as_of_date"]).date(),
        horizon_days=int(first["horizon_days"]),
        eval_cutoff=pd.Timestamp(by_role["evaluation"][0]).date(),
        scoring_cutoff=pd.Timestamp(by_role["scoring"][0]).date(),
        training_cutoffs=[pd.Timestamp(c).date() for c in by_role.get("training", [])],
        first_order_date=None if pd.isna(first_order) else pd.Timestamp(first_order).date(),
        max_training_cutoffs=int(first["max_training_cutoffs"]),
        max_training_rows=int(first["max_training_rows"]),
    )


def _normalise_cutoffs(cutoffs: list[date]) -> list[date]:
    if not cutoffs:
        raise ValueError("at least one cutoff is required")
    out: set[date] = set()
    for cutoff in cutoffs:
        # datetime is a subclass of date; a time of day would silently shift the boundary.
        if isinstance(cutoff, datetime):
            cutoff = cutoff.date()
        if not isinstance(cutoff, date):
            raise TypeError(f"cutoff must be a datetime.date, got {type(cutoff).__name__}")
        out.add(cutoff)
    return sorted(out)


def _in_cutoffs(cutoffs: list[date]) -> duckdb.Expression:
    return duckdb.ColumnExpression("cutoff").isin(*(duckdb.ConstantExpression(c) for c in cutoffs))


def _checked_cutoffs(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> list[date]:
    """The cutoffs sorted and deduplicated; each must be one dbt planned (features exist for no other day)."""
    wanted = _normalise_cutoffs(cutoffs)
    planned = {pd.Timestamp(row[0]).date() for row in features(con, CUTOFFS_MODEL).project("cutoff").fetchall()}
    unknown = [c.isoformat() for c in wanted if c not in planned]
    if unknown:
        raise ValueError(f"not cutoffs of features.{CUTOFFS_MODEL}: {', '.join(unknown)}")
    return wanted


def _category_slugs(con: duckdb.DuckDBPyConnection, latest_cutoff: date) -> list[str]:
    """The categories sold before the latest cutoff: a category first sold after every cutoff adds no column."""
    rows = (
        features(con, CUTOFF_CATEGORIES_MODEL)
        .filter(_in_cutoffs([latest_cutoff]))
        .project("category_slug")
        .order("category_slug")
        .fetchall()
    )
    slugs = [row[0] for row in rows]
    # Slugs become column names (and literals in the pivot below); the dbt macro guarantees this shape.
    unsafe = [s for s in slugs if not SAFE_SLUG.match(s)]
    if unsafe:
        raise ValueError(f"unexpected category slugs: {unsafe}")
    return slugs


def _feature_relation(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], labelled: bool = False
) -> duckdb.DuckDBPyRelation:
    """The feature rows of these cutoffs with one share column per category (and the label), in (cutoff, id) order.

    The long share table is pivoted inside DuckDB (one aggregate per category), so chunks stream from one
    ordered relation and Python never holds more than a chunk.
    """
    wanted = _checked_cutoffs(con, cutoffs)
    slugs = _category_slugs(con, wanted[-1])
    rows = features(con, CUSTOMER_CUTOFFS_MODEL).filter(_in_cutoffs(wanted))
    columns = list(rows.columns)
    if slugs:
        pivot = (
            features(con, CATEGORY_SHARES_MODEL)
            .filter(_in_cutoffs(wanted))
            .aggregate(
                ", ".join([KEY, *(f"sum(case when category_slug = '{s}' then category_share end) as {SHARE_PREFIX}{s}"
                                  for s in slugs)]),
                KEY,
            )
        )
        # A category the customer never bought has no row: share 0 (as for a customer who bought nothing).
        rows = rows.join(pivot, KEY, how="left").project(
            ", ".join([*columns, *(f"cast(coalesce({SHARE_PREFIX}{s}, 0) as double) as {SHARE_PREFIX}{s}"
                                   for s in slugs)])
        )
    if labelled:
        rows = rows.join(features(con, LABELS_MODEL).project(f"{KEY}, label"), KEY, how="inner")
    return rows.order(ORDER)


def build_features(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    """One row per (known customer registered on or before the cutoff, cutoff) of these planned cutoffs."""
    df = _feature_relation(con, cutoffs).df()
    logger.info(
        "read %d feature rows for %d cutoff(s) with %d category share column(s)",
        len(df), len(set(df["cutoff"])), sum(c.startswith(SHARE_PREFIX) for c in df.columns),
    )
    return df


def build_labels(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    """customer_id, cutoff, label (a sale order in [cutoff, cutoff + horizon)) of these training/evaluation cutoffs.

    The rows of build_features for the same cutoffs, in the same order, so the two frames join one-to-one.
    """
    wanted = _checked_cutoffs(con, cutoffs)
    df = features(con, LABELS_MODEL).filter(_in_cutoffs(wanted)).project(f"{KEY}, label").order(ORDER).df()
    logger.info(
        "read %d label rows for %d cutoff(s), positive rate %.3f",
        len(df), len(wanted), df["label"].mean() if len(df) else float("nan"),
    )
    return df


def count_feature_rows(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> int:
    """Rows of build_features for these cutoffs."""
    return len(features(con, CUSTOMER_CUTOFFS_MODEL).filter(_in_cutoffs(_normalise_cutoffs(cutoffs))))


def feature_chunks(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], chunk_rows: int, labelled: bool = False
) -> Iterator[pd.DataFrame]:
    """The rows of build_features (with ``label`` when ``labelled``) as frames of at most ``chunk_rows``, in order.

    Streamed from an Arrow reader on a cursor of its own, so the caller may use ``con`` between chunks. Each batch
    is turned into pandas by DuckDB, as ``.df()`` does, so a chunk has exactly the dtypes of build_features.
    """
    cursor = con.cursor()
    converter = duckdb.connect()
    try:
        reader = _feature_relation(cursor, cutoffs, labelled).to_arrow_reader(chunk_rows)
        for batch in reader:
            if batch.num_rows:
                yield converter.from_arrow(pa.Table.from_batches([batch])).df()
    finally:
        converter.close()
        cursor.close()
