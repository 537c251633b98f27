-- One row per valid product.
-- Quarantined rows and removed duplicates stay in base_shop__products; see dq_quarantine.

with base as (

    select * from {{ ref('base_shop__products') }}
    where dq_rule is null and removed_as is null

),

renamed as (

    select
        product_id,
        product_name,
        category,
        brand,
        list_price,
        unit_cost,
        source_file,
        source_line,
        refreshed_at
    from base

)

select * from renamed
