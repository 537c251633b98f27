{#- Every raw order line, parsed, with the first data-quality rule it breaks (dq_rule) and
    whether it was removed: an exact copy of an earlier line, or a line superseded by a later
    file's line with the same key. stg_shop__order_lines keeps the clean, winning lines;
    dq_quarantine keeps the rest. Rules: DECISIONS.md "Quarantine rules" and "Incremental builds".

    Incremental: the rows of every dedup_key (order_id, line_number) that a newly loaded raw row
    shares are judged again, all of that key's rows together, and replace the key's old rows. -#}

with source as (

    {{ comptoir.raw_rows_to_judge(source('shop', 'orders'), [
        clean_text('order_id'),
        'cast(' ~ comptoir.try_cast(clean_text('line_number'), 'integer') ~ ' as ' ~ dbt.type_string() ~ ')',
    ]) }}

),

cleaned as (

    select
        dedup_key,
        {{ clean_text('order_id') }} as order_id,
        {{ clean_text('line_number') }} as line_number_text,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('product_id') }} as product_id,
        {{ clean_text('quantity') }} as quantity_text,
        {{ clean_text('unit_price') }} as unit_price_text,
        {{ clean_text('order_date') }} as order_date_text,
        lower({{ clean_text('status') }}) as status,
        {{ clean_text('shipping_address') }} as shipping_address,
        _source_file as source_file,
        _line_number as source_line,
        _loaded_at as loaded_at,
        -- exact duplicate lines: same text in every column of the contract, in any file
        row_number() over (
            partition by
                order_id, line_number, customer_id, product_id, quantity,
                unit_price, order_date, status, shipping_address
            order by _source_file, _line_number
        ) as exact_copy_number
    from source

),

parsed as (

    select
        *,
        {{ comptoir.try_cast('line_number_text', 'integer') }} as line_number,
        {{ comptoir.try_cast('quantity_text', 'integer') }} as quantity,
        {{ comptoir.try_cast('unit_price_text', comptoir.money_type()) }} as unit_price,
        {{ comptoir.try_cast('order_date_text', 'timestamp') }} as ordered_at
    from cleaned

),

checked as (

    select
        *,
        case when exact_copy_number = 1 then {{ comptoir.first_broken_rule([
            ("order_id is null", "blank_order_id"),
            ("product_id is null", "blank_product_id"),
            ("not coalesce(" ~ comptoir.looks_like_integer('line_number_text') ~ ", false)"
                ~ " or line_number is null or line_number < 1", "invalid_line_number"),
            ("order_date_text is null or not " ~ comptoir.looks_like_iso_timestamp('order_date_text'),
                "unparsable_date"),
            ("ordered_at is null", "impossible_date"),
            ("ordered_at > loaded_at", "future_date"),
        ] + comptoir.integer_text_rules('quantity_text', 'quantity', var('max_order_quantity')) + [
            ("quantity <= 0", "nonpositive_quantity"),
        ] + comptoir.money_text_rules('unit_price_text', 'price') + [
            ("not coalesce(" ~ comptoir.looks_like_decimal('unit_price_text') ~ ", false)", "unparsable_price"),
            ("unit_price is null", "price_out_of_range"),
            ("unit_price < 0", "negative_price"),
            ("status is null or status not in ('completed', 'cancelled', 'returned')", "unknown_status"),
        ]) }} end as row_rule
    from parsed

),

keyed as (

    -- Two different valid lines with the same key in one file: the first in the file wins.
    select
        *,
        exact_copy_number = 1 and row_rule is null as is_candidate,
        row_number() over (
            partition by dedup_key, source_file, (exact_copy_number = 1 and row_rule is null)
            order by source_line
        ) as file_copy_number
    from checked

),

ranked as (

    -- Each file's winner of a key: the one in the last file (in name order) supersedes the others.
    select
        *,
        row_number() over (
            partition by dedup_key, (is_candidate and file_copy_number = 1)
            order by source_file desc
        ) as file_recency
    from keyed

)

select
    order_id,
    line_number,
    customer_id,
    product_id,
    quantity,
    unit_price,
    ordered_at,
    status,
    shipping_address,
    source_file,
    source_line,
    loaded_at,
    case
        when exact_copy_number > 1 then null
        when row_rule is not null then row_rule
        when file_copy_number > 1 then 'duplicate_key'
    end as dq_rule,
    case
        when exact_copy_number > 1 then 'exact_duplicate'
        when is_candidate and file_copy_number = 1 and file_recency > 1 then 'superseded'
    end as removed_as,
    dedup_key,
    {{ comptoir.batch_started_at() }} as refreshed_at
from ranked
