{#- Every raw product row, parsed, with the first rule it breaks (dq_rule). A product listed
    twice keeps its last row (removed_as = 'superseded'): the last row of the last file in name order.

    Incremental: the rows of every product_id that a newly loaded raw row carries are judged again
    together and replace that key's rows (DECISIONS.md "Incremental builds"). -#}

with source as (

    {{ comptoir.raw_rows_to_judge(source('shop', 'products'), [clean_text('product_id')]) }}

),

parsed as (

    select
        dedup_key,
        {{ clean_text('product_id') }} as product_id,
        {{ clean_text('name') }} as product_name,
        {{ clean_text('category') }} as category,
        {{ clean_text('brand') }} as brand,
        {{ clean_text('price') }} as price_text,
        {{ clean_text('cost') }} as cost_text,
        {{ comptoir.try_cast(clean_text('price'), comptoir.money_type()) }} as list_price,
        {{ comptoir.try_cast(clean_text('cost'), comptoir.money_type()) }} as unit_cost,
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
        ] + comptoir.money_text_rules('price_text', 'price') + [
            ("not coalesce(" ~ comptoir.looks_like_decimal('price_text') ~ ", false)", "unparsable_price"),
            ("list_price is null", "price_out_of_range"),
            ("list_price < 0", "negative_price"),
        ] + comptoir.money_text_rules('cost_text', 'cost') + [
            ("cost_text is not null and not coalesce(" ~ comptoir.looks_like_decimal('cost_text') ~ ", false)",
                "unparsable_cost"),
            ("cost_text is not null and unit_cost is null", "cost_out_of_range"),
            ("unit_cost < 0", "negative_cost"),
        ]) }} as dq_rule
    from parsed

),

ranked as (

    select
        *,
        row_number() over (
            partition by dedup_key, (dq_rule is null) order by source_file desc, source_line desc
        ) as recency_rank
    from checked

)

select
    product_id,
    product_name,
    coalesce(category, 'Uncategorised') as category,
    brand,
    list_price,
    unit_cost,
    source_file,
    source_line,
    loaded_at,
    dq_rule,
    case when dq_rule is null and recency_rank > 1 then 'superseded' end as removed_as,
    dedup_key,
    {{ comptoir.batch_started_at() }} as refreshed_at
from ranked
