{#- One row per order. Money counts completed lines only (sales); an order is a sale when at
    least one of its lines is completed. order_status is the lines' common status, or 'mixed'.
    customer_id is the first line's; per-customer figures come from int_customer_orders.

    Incremental (DECISIONS.md "Incremental builds"): every order with a line refreshed since this
    table's last refresh is computed again from all its lines and replaces its old row. -#}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
) }}

with lines as (

    select * from {{ ref('fct_order_lines') }}
    {% if is_incremental() %}
        where order_id in (
            select order_id from {{ ref('fct_order_lines') }}
            where refreshed_at > {{ comptoir.max_timestamp_literal(this, 'refreshed_at') }}
        )
    {% endif %}

),

first_lines as (

    -- The order's customer is the customer of its first line (DECISIONS.md: Customer of a sale).
    select
        order_id,
        customer_id,
        row_number() over (partition by order_id order by line_number) as line_rank
    from lines

),

orders as (

    select
        order_id,
        cast(count(distinct coalesce(customer_id, '')) as bigint) as customers_on_order,
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        case
            when count(distinct status) > 1 then 'mixed'
            else min(status)
        end as order_status,
        count(*) as lines,
        cast(sum(case when is_sale then 1 else 0 end) as bigint) as sale_lines,
        cast(sum(case when is_sale then quantity else 0 end) as bigint) as units,
        cast(sum(case when is_sale then revenue else 0 end) as {{ comptoir.amount_type() }}) as revenue,
        cast(sum(case when is_sale and has_cost then cost else 0 end) as {{ comptoir.amount_type() }}) as cost,
        cast(sum(case when is_sale and has_cost then revenue else 0 end) as {{ comptoir.amount_type() }}) as costed_revenue,
        cast(sum(case when is_sale and has_cost then margin else 0 end) as {{ comptoir.amount_type() }}) as margin,
        cast(sum(revenue) as {{ comptoir.amount_type() }}) as gross_revenue,
        cast(count(distinct product_id) as bigint) as distinct_products
    from lines
    group by order_id

)

select
    orders.order_id,
    first_lines.customer_id,
    first_lines.customer_id is null as is_guest,
    orders.customers_on_order > 1 as has_mixed_customers,
    orders.ordered_at,
    orders.order_date,
    orders.order_status,
    orders.lines,
    orders.sale_lines,
    orders.units,
    orders.revenue,
    orders.cost,
    orders.costed_revenue,
    orders.margin,
    orders.gross_revenue,
    orders.distinct_products,
    orders.sale_lines > 0 as is_sale,
    orders.order_status = 'cancelled' as is_cancelled,
    orders.order_status = 'returned' as is_returned,
    {{ comptoir.batch_started_at() }} as refreshed_at
from orders
inner join first_lines
    on orders.order_id = first_lines.order_id and first_lines.line_rank = 1
