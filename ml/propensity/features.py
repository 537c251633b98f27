"""Point-in-time features and labels for the purchase-propensity model.

Every feature for a (customer, cutoff) pair reads only events dated strictly before the cutoff
(``event date < cutoff``); windows are ``[cutoff - N days, cutoff)``. Labels read only
``[cutoff, cutoff + horizon)``. Both functions run one DuckDB query over all cutoffs at once
(the cutoffs are a table joined in), so building a training set with many cutoffs costs one scan.

Caveat: ``loyalty_tier`` and ``country_code`` come from ``marts.dim_customers``, a current snapshot
with no history. The sample generator derives the tier from spend over the whole period, so the
tier carries information from after the cutoff; treat it as leaky until a dated tier history exists.

E-mail counts are per campaign: ``emails_sent_90d`` counts the e-mails sent in the window, and
``emails_opened_90d`` / ``emails_clicked_90d`` how many of *those* were opened / clicked before the
cutoff (a click counts as an open). Counting open events by their own date instead would let an
e-mail sent before the window and opened inside it give more opens than sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ml.warehouse import CATEGORY_SLUG_SQL, CATEGORY_SLUGS_CTE, SAFE_SLUG, scalar

logger = logging.getLogger(__name__)

ORDER_WINDOWS_DAYS: tuple[int, ...] = (30, 90, 365)
EMAIL_WINDOW_DAYS = 90
WEB_WINDOWS_DAYS: tuple[int, ...] = (30, 90)


# The population: known customers registered on or before each cutoff. Customers without
# registered_on have no tenure and are left out. ``population_row`` numbers it in (cutoff, customer_id)
# order, the order of the frames below, so a sample of rows can be chosen before any feature is computed.
_POPULATION_ALL = """
cutoffs as (
    select distinct unnest($cutoffs::date[]) as cutoff
),

population_all as (
    select
        c.customer_id, k.cutoff, c.registered_on, c.loyalty_tier, c.country_code,
        row_number() over (order by k.cutoff, c.customer_id) - 1 as population_row
    from marts.dim_customers as c
    cross join cutoffs as k
    where not c.is_unknown_member and c.registered_on <= k.cutoff
)
"""
SAMPLE_VIEW = "_propensity_sample_rows"  # the population_row numbers to keep, registered by the caller
_POPULATION = """
population as (
    select * exclude (population_row) from population_all
    {where}
)
"""


def _population_ctes(sampled: bool) -> str:
    where = f"where population_row in (select population_row from {SAMPLE_VIEW})" if sampled else ""
    return _POPULATION_ALL + ",\n" + _POPULATION.format(where=where)


@contextmanager
def _sample(con: duckdb.DuckDBPyConnection, rows: np.ndarray | None) -> Iterator[bool]:
    """``rows`` (population_row numbers) visible to the queries as SAMPLE_VIEW; yields whether there is one."""
    if rows is None:
        yield False
        return
    con.register(SAMPLE_VIEW, pa.table({"population_row": np.asarray(rows, dtype=np.int64)}))
    try:
        yield True
    finally:
        con.unregister(SAMPLE_VIEW)


def count_population(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> int:
    """Rows of build_features / build_labels for these cutoffs (known customers x cutoffs they had reached)."""
    sql = f"with {_POPULATION_ALL} select count(*) from population_all"
    return int(scalar(con, sql, {"cutoffs": _normalise_cutoffs(cutoffs)}) or 0)


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


def _category_slugs(con: duckdb.DuckDBPyConnection, max_cutoff: date) -> list[str]:
    """Category slugs seen in sale lines before the latest cutoff.

    Restricting to lines before the latest cutoff keeps the column set free of future data too:
    a category first sold after every cutoff does not add a (constant zero) column.
    """
    sql = f"""
        select distinct {CATEGORY_SLUG_SQL.format(col="category")} as slug
        from (select distinct category from marts.fct_order_lines where is_sale and order_date < $max_cutoff)
        order by slug
    """
    slugs = [row[0] for row in con.execute(sql, {"max_cutoff": max_cutoff}).fetchall()]
    # Slugs become SQL identifiers and literals below; the slug expression guarantees this shape.
    unsafe = [s for s in slugs if not SAFE_SLUG.match(s)]
    if unsafe:
        raise ValueError(f"unexpected category slugs: {unsafe}")
    return slugs


def features_sql(con: duckdb.DuckDBPyConnection, cutoffs: list[date], sampled: bool = False) -> tuple[str, dict]:
    """The query of build_features and its parameters (``sampled``: keep only the SAMPLE_VIEW rows)."""
    cutoff_list = _normalise_cutoffs(cutoffs)
    slugs = _category_slugs(con, cutoff_list[-1])

    order_aggs = ",\n        ".join(
        [f"count(*) filter (where o.order_date >= p.cutoff - {n}) as orders_{n}d" for n in ORDER_WINDOWS_DAYS]
        + [f"sum(o.revenue) filter (where o.order_date >= p.cutoff - {n}) as revenue_{n}d" for n in ORDER_WINDOWS_DAYS]
    )
    web_aggs = ",\n        ".join(
        f"count(*) filter (where s.session_date >= p.cutoff - {n}) as web_visits_{n}d" for n in WEB_WINDOWS_DAYS
    )
    mix_aggs = "".join(f",\n        sum(revenue) filter (where slug = '{s}') as rev_{s}" for s in slugs)

    order_cols = ",\n    ".join(
        [f"coalesce(o.orders_{n}d, 0) as orders_{n}d" for n in ORDER_WINDOWS_DAYS]
        + [f"coalesce(o.revenue_{n}d, 0)::double as revenue_{n}d" for n in ORDER_WINDOWS_DAYS]
    )
    web_cols = ",\n    ".join(f"coalesce(w.web_visits_{n}d, 0) as web_visits_{n}d" for n in WEB_WINDOWS_DAYS)
    # A customer with no revenue (or only zero-priced sales) gets 0 in every share, not null.
    share_cols = "".join(
        f",\n    coalesce(m.rev_{s} / nullif(m.total_revenue, 0), 0)::double as share_{s}" for s in slugs
    )

    sql = f"""
with
{_population_ctes(sampled)},

{CATEGORY_SLUGS_CTE},

orders as (
    select
        p.customer_id,
        p.cutoff,
        max(o.order_date) as last_order_date,
        count(*) as lifetime_orders,
        sum(o.revenue) as lifetime_revenue,
        {order_aggs}
    from population as p
    inner join intermediate.int_customer_orders as o
        on o.customer_id = p.customer_id and o.is_sale and o.order_date < p.cutoff
    group by p.customer_id, p.cutoff
),

email_campaigns as (
    -- One row per customer, cutoff and campaign: when it was sent and whether it was opened or clicked
    -- (a click implies an open) by the cutoff.
    select
        p.customer_id,
        p.cutoff,
        e.campaign_id,
        min(e.event_date) filter (where e.event_type = 'sent') as sent_on,
        bool_or(e.event_type in ('opened', 'clicked')) as opened,
        bool_or(e.event_type = 'clicked') as clicked,
        max(e.event_date) as last_event_date
    from population as p
    inner join staging.stg_shop__email_events as e
        on e.customer_id = p.customer_id and e.event_date < p.cutoff
    group by p.customer_id, p.cutoff, e.campaign_id
),

emails as (
    -- Opens and clicks count for the e-mails sent in the window, so opened <= sent and clicked <= opened.
    select
        customer_id,
        cutoff,
        max(last_event_date) as last_contact_date,
        count(*) filter (where sent_on >= cutoff - {EMAIL_WINDOW_DAYS}) as sent,
        count(*) filter (where sent_on >= cutoff - {EMAIL_WINDOW_DAYS} and opened) as opened,
        count(*) filter (where sent_on >= cutoff - {EMAIL_WINDOW_DAYS} and clicked) as clicked
    from email_campaigns
    group by customer_id, cutoff
),

web as (
    select
        p.customer_id,
        p.cutoff,
        {web_aggs}
    from population as p
    inner join staging.stg_shop__web_sessions as s
        on s.customer_id = p.customer_id
        and s.session_date < p.cutoff
        and s.session_date >= p.cutoff - {max(WEB_WINDOWS_DAYS)}
    group by p.customer_id, p.cutoff
),

category_revenue as (
    -- Lines, not orders: an order can mix categories.
    select p.customer_id, p.cutoff, s.slug, sum(l.revenue) as revenue
    from population as p
    inner join marts.fct_order_lines as l
        on l.customer_id = p.customer_id and l.is_sale and l.order_date < p.cutoff
    inner join category_slugs as s on s.category is not distinct from l.category
    group by all
),

category_mix as (
    select
        customer_id,
        cutoff,
        sum(revenue) as total_revenue{mix_aggs}
    from category_revenue
    group by customer_id, cutoff
)

select
    p.customer_id,
    p.cutoff,
    p.cutoff - o.last_order_date as days_since_last_order,
    {order_cols},
    p.cutoff - p.registered_on as tenure_days,
    (o.lifetime_revenue / o.lifetime_orders)::double as average_order_value,
    p.cutoff - e.last_contact_date as days_since_last_contact,
    coalesce(e.sent, 0) as emails_sent_90d,
    coalesce(e.opened, 0) as emails_opened_90d,
    coalesce(e.clicked, 0) as emails_clicked_90d,
    (e.opened / nullif(e.sent, 0))::double as open_rate_90d,
    {web_cols},
    p.loyalty_tier,
    p.country_code{share_cols}
from population as p
left join orders as o using (customer_id, cutoff)
left join emails as e using (customer_id, cutoff)
left join web as w using (customer_id, cutoff)
left join category_mix as m using (customer_id, cutoff)
order by p.cutoff, p.customer_id
"""
    return sql, {"cutoffs": cutoff_list}


def build_features(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], rows: np.ndarray | None = None
) -> pd.DataFrame:
    """One row per (known customer registered on or before the cutoff, cutoff); see module docstring.

    ``rows``: only these population rows (numbers in (cutoff, customer_id) order, see count_population),
    so a sample costs the features of the sample only.
    """
    with _sample(con, rows) as sampled:
        sql, params = features_sql(con, cutoffs, sampled)
        df = con.execute(sql, params).df()
    logger.info(
        "built %d feature rows for %d cutoff(s) with %d category share column(s)",
        len(df),
        len(params["cutoffs"]),
        sum(c.startswith("share_") for c in df.columns),
    )
    return df


def build_labels(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], horizon_days: int = 30, rows: np.ndarray | None = None
) -> pd.DataFrame:
    """label = 1 when the customer has a sale order with order_date in [cutoff, cutoff + horizon_days).

    Same population (and ``rows``) as build_features, so the two frames join one-to-one on (customer_id, cutoff).
    """
    if horizon_days <= 0:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    cutoff_list = _normalise_cutoffs(cutoffs)
    with _sample(con, rows) as sampled:
        df = con.execute(_labels_sql(sampled), {"cutoffs": cutoff_list, "horizon_days": horizon_days}).df()
    logger.info(
        "built %d label rows for %d cutoff(s), horizon %d days, positive rate %.3f",
        len(df),
        len(cutoff_list),
        horizon_days,
        df["label"].mean() if len(df) else float("nan"),
    )
    return df


def _labels_sql(sampled: bool) -> str:
    return f"""
with
{_population_ctes(sampled)},

buyers as (
    select distinct p.customer_id, p.cutoff
    from population as p
    inner join intermediate.int_customer_orders as o
        on o.customer_id = p.customer_id
        and o.is_sale
        and o.order_date >= p.cutoff
        and o.order_date < p.cutoff + $horizon_days::integer
)

select
    p.customer_id,
    p.cutoff,
    (b.customer_id is not null)::integer as label
from population as p
left join buyers as b using (customer_id, cutoff)
order by p.cutoff, p.customer_id
"""


FEATURES_TABLE = "_propensity_features"  # temporary: lives in the connection's temp catalog only


@contextmanager
def feature_table(
    con: duckdb.DuckDBPyConnection, cutoffs: list[date], horizon_days: int | None = None
) -> Iterator[int]:
    """build_features (and its ``label`` for ``horizon_days`` when given) as the temporary table FEATURES_TABLE.

    Rows are numbered ``rid`` in (cutoff, customer_id) order, the frames' order, for read_feature_chunks; yields
    the row count and drops the table afterwards. The features stay in DuckDB: Python holds one chunk at a time.
    """
    sql, params = features_sql(con, cutoffs)
    if horizon_days is not None:
        if horizon_days <= 0:
            raise ValueError(f"horizon_days must be positive, got {horizon_days}")
        sql = (
            f"select f.*, l.label from ({sql}) as f "
            f"inner join ({_labels_sql(False)}) as l using (customer_id, cutoff)"
        )
        params = {**params, "horizon_days": horizon_days}
    con.execute(
        f"create or replace temp table {FEATURES_TABLE} as "
        f"select row_number() over (order by cutoff, customer_id) - 1 as rid, * from ({sql}) order by rid",
        params,
    )
    try:
        yield int(scalar(con, f"select count(*) from {FEATURES_TABLE}") or 0)
    finally:
        con.execute(f"drop table if exists {FEATURES_TABLE}")


def read_feature_chunks(con: duckdb.DuckDBPyConnection, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of FEATURES_TABLE (see feature_table) as frames of at most ``chunk_rows``, in order."""
    n = int(scalar(con, f"select count(*) from {FEATURES_TABLE}") or 0)
    for lo in range(0, n, chunk_rows):
        yield con.execute(
            f"select * exclude (rid) from {FEATURES_TABLE} where rid >= $lo and rid < $hi order by rid",
            {"lo": lo, "hi": lo + chunk_rows},
        ).df()
