{#- Every raw inventory snapshot row, parsed, with the first rule it breaks (dq_rule). The same
    product × warehouse × time counted twice keeps its last row (the last line of the last file
    in name order). -#}

-- Small (one row per product, warehouse and count): rebuilt whole, unlike the other base models.
{{ config(materialized='table') }}

with source as (

    select * from {{ source('shop', 'inventory') }}

),

parsed as (

    select
        {{ clean_text('product_id') }} as product_id,
        {{ clean_text('warehouse_id') }} as warehouse_id,
        {{ clean_text('stock_quantity') }} as stock_quantity_text,
        {{ clean_text('last_updated') }} as last_updated_text,
        {{ comptoir.try_cast(clean_text('stock_quantity'), 'integer') }} as stock_quantity,
        {{ comptoir.try_cast(clean_text('last_updated'), 'timestamp') }} as snapshot_at,
        _source_file as source_file,
        _line_number as source_line,
        _loaded_at as loaded_at
    from source

),

checked as (

    select
        *,
        {{ comptoir.first_broken_rule([
            ("product_id is null", "blank_product_id"),
            ("warehouse_id is null", "blank_warehouse_id"),
            ("last_updated_text is null or not " ~ comptoir.looks_like_iso_timestamp('last_updated_text'),
                "unparsable_date"),
            ("snapshot_at is null", "impossible_date"),
            ("snapshot_at > loaded_at", "future_date"),
        ] + comptoir.integer_text_rules('stock_quantity_text', 'stock_quantity') + [
            ("stock_quantity < 0", "negative_quantity"),
        ]) }} as dq_rule
    from parsed

),

ranked as (

    select
        *,
        row_number() over (
            partition by product_id, warehouse_id, snapshot_at, (dq_rule is null)
            order by source_file desc, source_line desc
        ) as recency_rank
    from checked

)

select
    product_id,
    warehouse_id,
    stock_quantity,
    snapshot_at,
    source_file,
    source_line,
    loaded_at,
    dq_rule,
    case when dq_rule is null and recency_rank > 1 then 'superseded' end as removed_as,
    {{ comptoir.batch_started_at() }} as refreshed_at
from ranked
