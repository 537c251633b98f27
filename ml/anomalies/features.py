"""Per-order features for the order-anomaly detector, read from the built marts in one DuckDB query.

One row per completed sale order (``marts.fct_orders.is_sale``: at least one completed line); money and
units count the completed lines only, like the marts. Columns:

* ``order_amount``: completed revenue of the order;
* ``units`` and ``products``: items on the order and distinct products among them;
* ``max_units_one_product``: the most units of a single product (many units of one item);
* ``price_ratio``: the highest unit price paid on the order divided by that product's reference price,
  its list price (``marts.dim_products``) or, when the product has none (unknown or unpriced product),
  the median unit price it sold at; ``price_reference`` says which one;
* ``order_hour`` and ``hour_share``: hour of day the order was placed and the share of all sale orders
  placed in that hour (how quiet that hour is);
* ``account_age_days``: days between the customer's registration and the order (null for guests and
  unknown customers); ``is_first_order``: the customer's first order of any status;
  ``is_new_account_first_order``: a first order placed at most ``new_account_days`` after registering.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from ml.warehouse import scalar

FEATURES_TABLE = "_anomaly_features"  # temporary: lives in the connection's temp catalog only

FEATURE_SELECT = """
with sale_lines as (
    select
        l.order_id,
        coalesce(l.source_product_id, l.product_id) as product_key,
        l.quantity,
        cast(l.unit_price as double) as unit_price,
        cast(nullif(p.list_price, 0) as double) as list_price
    from marts.fct_order_lines as l
    left join marts.dim_products as p
        on l.product_id = p.product_id and not p.is_unknown_member
    where l.is_sale
),

usual_prices as (
    -- only for the products that some line has no list price for: no other line reads it
    select product_key, median(unit_price) as usual_price
    from sale_lines
    where product_key in (select product_key from sale_lines where list_price is null)
    group by product_key
),

order_product_lines as (
    -- one row per order and product: its units, and its highest price ratio with whether that was against the
    -- list price (a struct: the order's max then prefers the list price on a tie, whatever the row order)
    select
        s.order_id,
        s.product_key,
        sum(s.quantity) as units,
        max(struct_pack(
            r := s.unit_price / coalesce(s.list_price, nullif(u.usual_price, 0)),
            l := s.list_price is not null
        )) filter (where s.unit_price / coalesce(s.list_price, nullif(u.usual_price, 0)) is not null) as best_price
    from sale_lines as s
    left join usual_prices as u on s.product_key = u.product_key
    group by s.order_id, s.product_key
),

order_products as (
    select
        order_id,
        count(*) as products,
        max(units) as max_units_one_product,
        max(best_price) as best_price
    from order_product_lines
    group by order_id
),

first_orders as (
    select
        order_id,
        row_number() over (partition by customer_id order by ordered_at, order_id) = 1 as is_first_order
    from marts.fct_orders
    where customer_id is not null
),

orders as (
    select
        o.order_id,
        o.customer_id,
        o.ordered_at,
        o.order_date,
        cast(o.revenue as double) as order_amount,
        cast(o.units as bigint) as units,
        cast(op.products as bigint) as products,
        cast(op.max_units_one_product as bigint) as max_units_one_product,
        op.best_price.r as price_ratio,
        case when op.best_price.l then 'list price' when not op.best_price.l then 'usual price' end
            as price_reference,
        cast(hour(o.ordered_at) as integer) as order_hour,
        date_diff('day', c.registered_on, o.order_date) as account_age_days,
        c.customer_id is not null and coalesce(f.is_first_order, false) as is_first_order
    from marts.fct_orders as o
    inner join order_products as op on o.order_id = op.order_id
    left join marts.dim_customers as c
        on o.customer_id = c.customer_id and not c.is_unknown_member
    left join first_orders as f on o.order_id = f.order_id
    where o.is_sale
)

select
    *,
    cast(count(*) over (partition by order_hour) as double) / count(*) over () as hour_share,
    is_first_order and account_age_days between 0 and $new_account_days as is_new_account_first_order
from orders
"""
FEATURE_SQL = FEATURE_SELECT + "order by order_id\n"


def _check(new_account_days: int) -> None:
    if new_account_days < 0:
        raise ValueError("new_account_days must be >= 0")


def build_order_features(con: duckdb.DuckDBPyConnection, *, new_account_days: int) -> pd.DataFrame:
    """The feature frame described in the module docstring, ordered by order_id."""
    _check(new_account_days)
    return con.execute(FEATURE_SQL, {"new_account_days": new_account_days}).df()


def create_feature_table(con: duckdb.DuckDBPyConnection, *, new_account_days: int) -> int:
    """The same features as a temporary table FEATURES_TABLE, with ``rid`` = 0.. in order_id order; its rows.

    The detector reads it in chunks by ``rid``, so no frame of every order is ever held in Python.
    """
    _check(new_account_days)
    con.execute(
        f"create or replace temp table {FEATURES_TABLE} as "
        f"select row_number() over (order by order_id) - 1 as rid, * from ({FEATURE_SELECT}) order by rid",
        {"new_account_days": new_account_days},
    )
    return int(scalar(con, f"select count(*) from {FEATURES_TABLE}") or 0)
