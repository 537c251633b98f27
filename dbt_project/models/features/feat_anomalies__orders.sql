{#- Grain: one row per completed sale order (fct_orders.is_sale: at least one completed line), with the inputs
    of the order-anomaly detector (ml/anomalies/, DECISIONS.md "Order anomalies"). Money and units count the
    completed lines only, like the marts. Every order of the history: the detector compares each order with all
    the others. One scan of the sale lines, grouped twice (order × product, then order); no window but the
    customers' first orders. -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

sale_lines as (

    select
        order_lines.order_id,
        coalesce(order_lines.source_product_id, order_lines.product_id) as product_key,
        order_lines.quantity,
        cast(order_lines.unit_price as double) as unit_price,
        cast(nullif(products.list_price, 0) as double) as list_price
    from order_lines
    left join products
        on order_lines.product_id = products.product_id and not products.is_unknown_member
    where order_lines.is_sale

),

unpriced_products as (

    select distinct product_key
    from sale_lines
    where list_price is null

),

usual_prices as (

    -- only for the products that some line has no list price for: no other line reads it
    select
        sale_lines.product_key,
        {{ comptoir.median('sale_lines.unit_price') }} as usual_price
    from sale_lines
    inner join unpriced_products on sale_lines.product_key = unpriced_products.product_key
    group by sale_lines.product_key

),

priced_lines as (

    -- the line's unit price against its product's reference price: the list price, else the usual price
    select
        sale_lines.order_id,
        sale_lines.product_key,
        sale_lines.quantity,
        sale_lines.list_price is not null as against_list_price,
        sale_lines.unit_price / coalesce(sale_lines.list_price, nullif(usual_prices.usual_price, 0)) as price_ratio
    from sale_lines
    left join usual_prices on sale_lines.product_key = usual_prices.product_key

),

order_product_lines as (

    -- one row per order and product: its units, and its highest price ratio against each kind of reference
    select
        order_id,
        product_key,
        sum(quantity) as units,
        max(case when against_list_price then price_ratio end) as list_price_ratio,
        max(case when not against_list_price then price_ratio end) as usual_price_ratio
    from priced_lines
    group by order_id, product_key

),

order_products as (

    select
        order_id,
        count(*) as products,
        max(units) as max_units_one_product,
        max(list_price_ratio) as list_price_ratio,
        max(usual_price_ratio) as usual_price_ratio
    from order_product_lines
    group by order_id

),

first_orders as (

    select
        order_id,
        row_number() over (partition by customer_id order by ordered_at, order_id) = 1 as is_first_order
    from orders
    where customer_id is not null

),

sale_orders as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.order_date,
        cast(orders.revenue as double) as order_amount,
        cast(orders.units as {{ dbt.type_bigint() }}) as units,
        cast(order_products.products as {{ dbt.type_bigint() }}) as products,
        cast(order_products.max_units_one_product as {{ dbt.type_bigint() }}) as max_units_one_product,
        -- the order's highest ratio; on a tie the one against a list price
        case
            when
                order_products.usual_price_ratio is null
                or order_products.list_price_ratio >= order_products.usual_price_ratio
                then order_products.list_price_ratio
            else order_products.usual_price_ratio
        end as price_ratio,
        case
            when
                order_products.list_price_ratio is not null
                and (
                    order_products.usual_price_ratio is null
                    or order_products.list_price_ratio >= order_products.usual_price_ratio
                )
                then 'list price'
            when order_products.usual_price_ratio is not null then 'usual price'
        end as price_reference,
        cast(extract(hour from orders.ordered_at) as {{ dbt.type_int() }}) as order_hour,
        {{ dbt.datediff('customers.registered_on', 'orders.order_date', 'day') }} as account_age_days,
        customers.customer_id is not null and coalesce(first_orders.is_first_order, false) as is_first_order
    from orders
    inner join order_products on orders.order_id = order_products.order_id
    left join customers
        on orders.customer_id = customers.customer_id and not customers.is_unknown_member
    left join first_orders on orders.order_id = first_orders.order_id
    where orders.is_sale

),

hours as (

    -- sale orders per hour of day, joined back rather than counted by a window over every order
    select
        order_hour,
        count(*) as hour_orders,
        cast(sum(count(*)) over () as {{ dbt.type_bigint() }}) as all_orders
    from sale_orders
    group by order_hour

),

final as (

    select
        sale_orders.*,
        cast(hours.hour_orders as double) / hours.all_orders as hour_share
    from sale_orders
    inner join hours on sale_orders.order_hour is not distinct from hours.order_hour

)

select * from final
