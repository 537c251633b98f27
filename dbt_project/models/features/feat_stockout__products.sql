{#- Grain: one row per product counted in the inventory (mart_inventory; empty without an inventory source): its
    stock across warehouses at the latest snapshot, and its demand over the stockout_demand_window_days days up
    to the as-of date (completed lines, matched on the order line's source product id as mart_inventory does),
    against which ml/forecasting/stockout.py splits its category's unit forecast and sizes the safety stock. -#}

{%- set window_days = var('stockout_demand_window_days') | int %}

with as_of as (

    select as_of_date from {{ ref('feat_as_of_date') }}

),

inventory as (

    select * from {{ ref('mart_inventory') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    -- mart_inventory has a row per product and warehouse; the product's columns repeat on each
    select distinct
        product_id,
        product_name,
        category,
        is_unknown_product,
        product_stock
    from inventory

),

window_lines as (

    select
        order_lines.source_product_id,
        order_lines.category,
        order_lines.order_date,
        order_lines.quantity
    from order_lines
    cross join as_of
    where
        order_lines.is_sale
        and order_lines.order_date >= {{ dbt.dateadd('day', 1 - window_days, 'as_of.as_of_date') }}
        and order_lines.order_date <= as_of.as_of_date

),

product_days as (

    select
        source_product_id as product_id,
        order_date,
        sum(quantity) as units
    from window_lines
    group by source_product_id, order_date

),

product_units as (

    select
        product_id,
        sum(units) as units,
        sum(units * units) as units_squared
    from product_days
    group by product_id

),

category_units as (

    select
        category,
        sum(quantity) as units
    from window_lines
    group by category

),

final as (

    select
        products.product_id,
        products.product_name,
        products.category,
        products.is_unknown_product,
        cast(products.product_stock as {{ dbt.type_bigint() }}) as current_stock,
        cast(coalesce(product_units.units, 0) as {{ dbt.type_bigint() }}) as units_sold_window,
        cast(coalesce(category_units.units, 0) as {{ dbt.type_bigint() }}) as category_units_window,
        -- sample standard deviation of the daily units over every day of the window, days without sales as 0
        sqrt(greatest(
            (
                cast(coalesce(product_units.units_squared, 0) as double)
                - cast(coalesce(product_units.units, 0) as double) * coalesce(product_units.units, 0)
                / {{ window_days }}
            ) / ({{ window_days }} - 1),
            0
        )) as demand_std_daily
    from products
    left join product_units on products.product_id = product_units.product_id
    left join category_units on products.category = category_units.category

)

select * from final
