{#- One row per product and warehouse: the latest stock snapshot on or before the as-of date,
    with the product's stock across warehouses, recent sales velocity, days of cover, stock
    turnover and the low-stock flag (DECISIONS.md: Inventory measures, Low stock). Empty when
    there is no inventory source. A counted product missing from the catalogue keeps its own id
    (so the grain holds) and is flagged is_unknown_product. Sales are matched on the order
    line's source product id for the same reason. -#}

with snapshots as (

    select * from {{ ref('stg_shop__inventory_snapshots') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

snapshots_to_date as (

    select
        snapshots.product_id,
        snapshots.warehouse_id,
        snapshots.stock_quantity,
        snapshots.snapshot_at,
        {{ dbt.datediff('cast(snapshots.snapshot_at as date)', 'as_of.as_of_date', 'day') }} as days_before_as_of
    from snapshots
    cross join as_of
    where cast(snapshots.snapshot_at as date) <= as_of.as_of_date

),

latest_per_warehouse as (

    select
        product_id,
        warehouse_id,
        stock_quantity,
        snapshot_at,
        row_number() over (partition by product_id, warehouse_id order by snapshot_at desc) as recency_rank
    from snapshots_to_date

),

current_stock as (

    select
        product_id,
        warehouse_id,
        stock_quantity,
        snapshot_at,
        sum(stock_quantity) over (partition by product_id) as product_stock
    from latest_per_warehouse
    where recency_rank = 1

),

-- total stock of the product across warehouses at each snapshot time of the last 365 days
stock_over_year as (

    select
        product_id,
        snapshot_at,
        sum(stock_quantity) as total_stock
    from snapshots_to_date
    where days_before_as_of between 0 and 364
    group by product_id, snapshot_at

),

average_stock as (

    select
        product_id,
        avg(1.0 * total_stock) as average_stock_365d
    from stock_over_year
    group by product_id

),

recent_sales as (

    select
        order_lines.source_product_id as product_id,
        sum(case
            when {{ dbt.datediff('order_lines.order_date', 'as_of.as_of_date', 'day') }} between 0 and 27
                then order_lines.quantity
            else 0
        end) as units_28d,
        sum(order_lines.quantity) as units_365d
    from order_lines
    cross join as_of
    where
        order_lines.is_sale
        and {{ dbt.datediff('order_lines.order_date', 'as_of.as_of_date', 'day') }} between 0 and 364
    group by order_lines.source_product_id

),

joined as (

    select
        current_stock.product_id,
        coalesce(products.product_name, 'Unknown product') as product_name,
        coalesce(products.category, 'Unknown') as category,
        products.product_id is null as is_unknown_product,
        current_stock.warehouse_id,
        current_stock.stock_quantity,
        current_stock.snapshot_at,
        current_stock.product_stock,
        coalesce(recent_sales.units_28d, 0) as units_28d,
        coalesce(recent_sales.units_365d, 0) as units_365d,
        average_stock.average_stock_365d
    from current_stock
    left join products
        on
            current_stock.product_id = products.product_id
            and not products.is_unknown_member
    left join recent_sales on current_stock.product_id = recent_sales.product_id
    left join average_stock on current_stock.product_id = average_stock.product_id

),

final as (

    select
        product_id,
        product_name,
        category,
        is_unknown_product,
        warehouse_id,
        stock_quantity,
        snapshot_at,
        stock_quantity = 0 as is_stock_out,
        cast(product_stock as bigint) as product_stock,
        cast(units_28d as bigint) as units_28d,
        cast(1.0 * units_28d / 28 as double) as avg_daily_units_28d,
        cast(case when units_28d > 0 then product_stock / (1.0 * units_28d / 28) end as double) as days_of_cover,
        cast(units_365d as bigint) as units_365d,
        cast(average_stock_365d as double) as average_stock_365d,
        cast(case when average_stock_365d > 0 then units_365d / average_stock_365d end as double) as turnover_365d,
        product_stock < {{ var('low_stock_threshold') }} as low_stock
    from joined

)

select * from final
