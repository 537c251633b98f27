{#- Grain: one row per known customer (not the unknown member, not a guest) with at least one sale order on or
    before the as-of date: the behaviours the segments cluster on (ml/segments/, DECISIONS.md "Behavioural
    segments"). Every event is dated on or before the as-of date. revenue and frequency are lifetime (a
    lapsed regular still looks frequent; recency is its own feature). The per-category spend shares are
    feat_segments__category_shares. -#}

with as_of as (

    select as_of_date from {{ ref('feat_as_of_date') }}

),

customer_orders as (

    select * from {{ ref('int_customer_orders') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

sale_orders as (

    -- the population: known customers' sale orders up to the as-of date, as dim_customers and the RFM count them
    select
        customer_orders.customer_id,
        count(*) as orders,
        sum(customer_orders.revenue) as revenue,
        max(customer_orders.order_date) as last_order_date
    from customer_orders
    inner join customers
        on customer_orders.customer_id = customers.customer_id and not customers.is_unknown_member
    cross join as_of
    where customer_orders.is_sale and customer_orders.order_date <= as_of.as_of_date
    group by customer_orders.customer_id

),

line_totals as (

    -- completed lines are net of returns and cancellations (their own statuses); cancellations never count
    select
        order_lines.customer_id,
        sum(case when order_lines.is_sale then order_lines.revenue end) as sale_revenue,
        coalesce(sum(case when order_lines.status = 'returned' then order_lines.revenue end), 0) as returned_revenue
    from order_lines
    inner join sale_orders on order_lines.customer_id = sale_orders.customer_id
    cross join as_of
    where order_lines.order_date <= as_of.as_of_date and (order_lines.is_sale or order_lines.status = 'returned')
    group by order_lines.customer_id

),

final as (

    select
        sale_orders.customer_id,
        -- doubles, divided as doubles: the ML code works in floats, and DuckDB divides decimals in double anyway
        cast(sale_orders.revenue as double) / sale_orders.orders as average_order_value,
        cast(sale_orders.orders as {{ dbt.type_bigint() }}) as frequency,
        cast({{ dbt.datediff('sale_orders.last_order_date', 'as_of.as_of_date', 'day') }} as {{ dbt.type_bigint() }})
            as recency_days,
        coalesce(
            cast(line_totals.returned_revenue as double)
            / nullif(cast(line_totals.sale_revenue + line_totals.returned_revenue as double), 0),
            0
        ) as return_rate,
        cast(sale_orders.revenue as double) as revenue,
        cast(coalesce(line_totals.returned_revenue, 0) as double) as returned_revenue,
        as_of.as_of_date
    from sale_orders
    cross join as_of
    left join line_totals on sale_orders.customer_id = line_totals.customer_id

)

select * from final
