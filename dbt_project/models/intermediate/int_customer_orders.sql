{#- Grain: one row per customer × order, built from order lines so that revenue follows each
    line's own customer (DECISIONS.md: Customer of a sale). Normally an order has one customer;
    when a line refers to a customer missing from customers.json, that line belongs to the
    UNKNOWN member while the rest of the order stays with its customer. Guests are left out.
    Customer marts (dim_customers, RFM, cohorts, CLV, KPIs per customer) read this model, so it
    is a table rather than ephemeral like the rest of the folder.

    Incremental (DECISIONS.md "Incremental builds"): the rows of every order with a line refreshed
    since this table's last refresh are deleted (pre-hook: an order whose lines all became guest
    lines has no row left) and computed again. -#}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ comptoir.delete_rows_of_refreshed_keys('order_id', ref('fct_order_lines')) }}",
    on_schema_change='fail',
) }}

with lines as (

    select * from {{ ref('fct_order_lines') }}
    where customer_id is not null
    {% if is_incremental() %}
        and order_id in (
            select order_id from {{ ref('fct_order_lines') }}
            where refreshed_at > {{ comptoir.max_timestamp_literal(this, 'refreshed_at') }}
        )
    {% endif %}

),

customer_orders as (

    select
        customer_id,
        order_id,
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        max(case when is_unknown_customer then 1 else 0 end) = 1 as is_unknown_customer,
        cast(count(*) as bigint) as lines,
        cast(sum(case when is_sale then 1 else 0 end) as bigint) as sale_lines,
        cast(sum(case when is_sale then quantity else 0 end) as bigint) as units,
        cast(sum(case when is_sale then revenue else 0 end) as {{ comptoir.amount_type() }}) as revenue
    from lines
    group by customer_id, order_id

)

select
    *,
    sale_lines > 0 as is_sale,
    {{ comptoir.batch_started_at() }} as refreshed_at
from customer_orders
