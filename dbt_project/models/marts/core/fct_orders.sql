{#- One row per order. Money counts completed lines only (sales); an order is a sale when at
    least one of its lines is completed. order_status is the lines' common status, or 'mixed'. -#}

with lines as (

    select * from {{ ref('fct_order_lines') }}

),

orders as (

    select
        order_id,
        min(customer_id) as customer_id,
        min(customer_id) is null as is_guest,
        min(ordered_at) as ordered_at,
        min(order_date) as order_date,
        case
            when count(distinct status) > 1 then 'mixed'
            else min(status)
        end as order_status,
        count(*) as lines,
        cast(sum(case when is_sale then 1 else 0 end) as bigint) as sale_lines,
        cast(sum(case when is_sale then quantity else 0 end) as bigint) as units,
        cast(sum(case when is_sale then revenue else 0 end) as decimal(18, 2)) as revenue,
        cast(sum(case when is_sale and has_cost then cost else 0 end) as decimal(18, 2)) as cost,
        cast(sum(case when is_sale and has_cost then revenue else 0 end) as decimal(18, 2)) as costed_revenue,
        cast(sum(case when is_sale and has_cost then margin else 0 end) as decimal(18, 2)) as margin,
        cast(sum(revenue) as decimal(18, 2)) as gross_revenue,
        count(distinct product_id) as distinct_products
    from lines
    group by order_id

)

select
    *,
    sale_lines > 0 as is_sale,
    order_status = 'cancelled' as is_cancelled,
    order_status = 'returned' as is_returned
from orders
