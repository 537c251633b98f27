{#- One row per sale order × category × buyer × day of its completed lines (an order has one buyer and
    one day unless its export is defective), with the buyer's country and tier: distinct orders and customers (orders, customers, AOV, the top
    customers) stay exact under any date range, country and category filter, over one row per order
    and category instead of one per line, with no join at query time.
    Incremental by order day (dbt_project.yml, macros/serving.sql). -#}

-- depends_on: {{ ref('base_shop__orders') }}, {{ ref('base_shop__customers') }}

with

sale_lines as (

    {{ comptoir.serving_sale_lines() }}

),

final as (

    select
        order_id,
        category,
        order_date,
        customer_id,
        not is_guest and not is_unknown_customer as is_known_customer,
        country_code,
        country_name,
        loyalty_tier,
        count(*) as sale_lines,
        cast(sum(quantity) as bigint) as units,
        sum(revenue) as revenue,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from sale_lines
    group by
        order_id, category, order_date, customer_id, is_guest, is_unknown_customer, country_code,
        country_name, loyalty_tier

)

select * from final
order by order_date, order_id, category, customer_id
