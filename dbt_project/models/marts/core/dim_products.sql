{#- One row per product, plus the unknown member that order lines referring to a product
    missing from the catalogue link to. Stock is the latest snapshot of each warehouse, summed;
    null when there is no inventory source. low_stock: DECISIONS.md "Low stock". -#}

with products as (

    select * from {{ ref('stg_shop__products') }}

),

snapshots as (

    select * from {{ ref('stg_shop__inventory_snapshots') }}

),

latest_per_warehouse as (

    select
        product_id,
        warehouse_id,
        stock_quantity,
        snapshot_at,
        row_number() over (partition by product_id, warehouse_id order by snapshot_at desc) as recency_rank
    from snapshots

),

current_stock as (

    select
        product_id,
        cast(sum(stock_quantity) as bigint) as current_stock,
        cast(count(*) as bigint) as warehouses,
        max(snapshot_at) as stock_counted_at
    from latest_per_warehouse
    where recency_rank = 1
    group by product_id

),

catalogue as (

    select
        product_id,
        product_name,
        category,
        brand,
        list_price,
        unit_cost,
        false as is_unknown_member
    from products

    union all

    select
        '{{ var("unknown_member_id") }}' as product_id,
        'Unknown product' as product_name,
        'Unknown' as category,
        cast(null as {{ dbt.type_string() }}) as brand,
        cast(null as {{ comptoir.money_type() }}) as list_price,
        cast(null as {{ comptoir.money_type() }}) as unit_cost,
        true as is_unknown_member

)

select
    catalogue.*,
    {{ comptoir.exact_ratio('catalogue.list_price - catalogue.unit_cost', 'catalogue.list_price') }}
        as list_margin_pct,
    current_stock.current_stock,
    current_stock.warehouses,
    current_stock.stock_counted_at,
    current_stock.current_stock is not null
    and current_stock.current_stock < {{ var('low_stock_threshold') }} as low_stock
from catalogue
left join current_stock on catalogue.product_id = current_stock.product_id
