"""Per-customer behavioural features for the segments, as of a date (every event dated on or before it).

Population: known customers (``marts.dim_customers``, not the unknown member) with at least one sale order
(``intermediate.int_customer_orders.is_sale``) dated on or before ``as_of``. Guests have no identity and the
unknown member is a bucket of unrelated people, so neither is segmented. Definitions follow the marts:

* ``revenue``: revenue of the customer's sale orders (completed lines), as ``dim_customers.lifetime_revenue``
  and the RFM monetary value; ``frequency``: the number of those orders over the whole history up to
  ``as_of`` (lifetime, not a 365-day window: recency is its own feature, and a window would make every lapsed
  customer look infrequent too); ``average_order_value`` = revenue / frequency;
  ``recency_days`` = ``as_of`` - date of the last sale order (the RFM ``recency_days``).
* ``share_<category>``: the category's part of the customer's completed-line revenue (lines, not orders: an
  order can mix categories). Completed lines are already net of returns and cancellations, which have their
  own status. The ``Unknown`` category (unknown product) has no column, but its revenue stays in the
  denominator, so a customer's shares sum to at most 1. A customer whose sales are all zero-priced gets 0s.
* ``return_rate`` = returned revenue / (completed + returned revenue): the part of what the customer kept or
  sent back that came back, in [0, 1] (returned lines are order lines with status ``returned``;
  cancellations were never delivered and do not count). ``returned_revenue`` is kept for segment profiles.

Category columns are the categories sold before or on ``as_of`` (to anyone), named by a slug (accents
stripped, non-alphanumerics to ``_``); ``frame.attrs["category_labels"]`` maps each share column to the
category's display name. One query computes every feature (after one small query for the category list).
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import duckdb
import pandas as pd

from ml.warehouse import CATEGORY_SLUG_SQL, CATEGORY_SLUGS_CTE, SAFE_SLUG

logger = logging.getLogger(__name__)

SHARE_PREFIX = "share_"
CATEGORY_LABELS_ATTR = "category_labels"
UNKNOWN_CATEGORY_SLUG = "unknown"
BEHAVIOUR_COLUMNS: tuple[str, ...] = ("average_order_value", "frequency", "recency_days", "return_rate")



def _as_date(as_of: date) -> date:
    # datetime is a subclass of date; a time of day would silently shift the boundary.
    if isinstance(as_of, datetime):
        return as_of.date()
    if not isinstance(as_of, date):
        raise TypeError(f"as_of must be a datetime.date, got {type(as_of).__name__}")
    return as_of


def _categories(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[str, str]:
    """Slug -> display name of the categories with a completed line on or before ``as_of``, by slug."""
    sql = f"""
        with categories as (
            select distinct category from marts.fct_order_lines where is_sale and order_date <= $as_of
        )
        select {CATEGORY_SLUG_SQL.format(col="category")} as slug, min(category) as label
        from categories
        group by slug
        order by slug
    """
    rows = con.execute(sql, {"as_of": as_of}).fetchall()
    labels = {slug: label for slug, label in rows if slug != UNKNOWN_CATEGORY_SLUG}
    # Slugs become SQL identifiers and literals below; the slug expression guarantees this shape.
    unsafe = [s for s in labels if not SAFE_SLUG.match(s)]
    if unsafe:
        raise ValueError(f"unexpected category slugs: {unsafe}")
    return labels


def build_segment_features(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame:
    """One row per known customer with a sale on or before ``as_of``, ordered by customer_id (module docstring).

    Columns: customer_id, ``share_<category>``..., average_order_value, frequency, recency_days, return_rate,
    revenue, returned_revenue, as_of_date.
    """
    as_of = _as_date(as_of)
    labels = _categories(con, as_of)
    slugs = list(labels)
    category_sums = "".join(
        f",\n        sum(revenue) filter (where is_sale and slug = '{s}') as rev_{s}" for s in slugs
    )
    share_cols = "".join(
        f",\n    coalesce(l.rev_{s} / nullif(l.sale_revenue, 0), 0)::double as {SHARE_PREFIX}{s}" for s in slugs
    )
    sql = f"""
with

sale_orders as (
    select
        o.customer_id,
        count(*) as orders,
        sum(o.revenue) as revenue,
        max(o.order_date) as last_order_date
    from intermediate.int_customer_orders as o
    inner join marts.dim_customers as c
        on c.customer_id = o.customer_id and not c.is_unknown_member
    where o.is_sale and o.order_date <= $as_of
    group by o.customer_id
),

{CATEGORY_SLUGS_CTE},

lines as (
    select l.customer_id, l.is_sale, l.status, l.revenue, s.slug
    from marts.fct_order_lines as l
    inner join sale_orders as p on p.customer_id = l.customer_id
    inner join category_slugs as s on s.category is not distinct from l.category
    where l.order_date <= $as_of and (l.is_sale or l.status = 'returned')
),

line_totals as (
    select
        customer_id,
        sum(revenue) filter (where is_sale) as sale_revenue,
        coalesce(sum(revenue) filter (where status = 'returned'), 0) as returned_revenue{category_sums}
    from lines
    group by customer_id
)

select
    p.customer_id{share_cols},
    (p.revenue / p.orders)::double as average_order_value,
    p.orders::bigint as frequency,
    ($as_of - p.last_order_date)::bigint as recency_days,
    coalesce(l.returned_revenue / nullif(l.sale_revenue + l.returned_revenue, 0), 0)::double as return_rate,
    p.revenue::double as revenue,
    coalesce(l.returned_revenue, 0)::double as returned_revenue,
    $as_of as as_of_date
from sale_orders as p
left join line_totals as l on l.customer_id = p.customer_id
order by p.customer_id
"""
    df = con.execute(sql, {"as_of": as_of}).df()
    df.attrs[CATEGORY_LABELS_ATTR] = {f"{SHARE_PREFIX}{s}": label for s, label in labels.items()}
    logger.info("built segment features for %d customers as of %s, %d categories", len(df), as_of, len(slugs))
    return df
