{#- Grain: one row per known customer × month with a sale order (revenue follows each line's own
    customer: DECISIONS.md, Customer of a sale). Feeds the customers and new_customers counts of
    mart_monthly_sales and mart_kpis_monthly; first_order_date lets a mart stop at the as-of date. -#}

{{ config(materialized='table') }}

with customer_orders as (

    select * from {{ ref('int_customer_orders') }}
    where is_sale and customer_id <> '{{ var("unknown_member_id") }}'

),

customer_months as (

    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as month_start,
        min(order_date) as first_order_date
    from customer_orders
    group by customer_id, cast({{ dbt.date_trunc('month', 'order_date') }} as date)

),

final as (

    select
        customer_id,
        month_start,
        first_order_date,
        month_start = min(month_start) over (partition by customer_id) as is_first_sale_month
    from customer_months

)

select * from final
