-- One row per clean order line: parsed, trimmed, first copy of exact duplicates.
-- Quarantined rows and removed duplicates stay in base_shop__orders; see dq_quarantine.

with base as (

    select * from {{ ref('base_shop__orders') }}
    where dq_rule is null and removed_as is null

),

renamed as (

    select
        order_id || '-' || cast(line_number as {{ dbt.type_string() }}) as order_line_id,
        order_id,
        line_number,
        customer_id,
        customer_id is null as is_guest,
        product_id,
        quantity,
        unit_price,
        ordered_at,
        cast(ordered_at as date) as order_date,
        status,
        shipping_address,
        source_file,
        source_line,
        refreshed_at
    from base

)

select * from renamed
