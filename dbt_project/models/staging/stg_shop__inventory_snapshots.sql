-- One row per product, warehouse and snapshot time.
-- Quarantined rows and removed duplicates stay in base_shop__inventory; see dq_quarantine.

with base as (

    select * from {{ ref('base_shop__inventory') }}
    where dq_rule is null and removed_as is null

),

renamed as (

    select
        product_id,
        warehouse_id,
        stock_quantity,
        snapshot_at,
        source_file,
        source_line
    from base

)

select * from renamed
