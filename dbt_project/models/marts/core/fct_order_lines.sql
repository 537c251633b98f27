{#- One row per clean order line with its money: revenue = quantity × unit_price, cost = quantity
    × unit cost (null when the product's cost is unknown), margin = revenue − cost. Completed lines
    are sales (is_sale); cancelled and returned lines are kept and flagged.

    Incremental (DECISIONS.md "Incremental builds"): the lines whose order line was judged again
    since this table's last refresh, and the lines of customers and products whose records were,
    are computed again and replace their old rows. A clean line never disappears without a
    rewritten history, which forces a full refresh. -#}

-- depends_on: {{ ref('stg_shop__order_lines') }}, {{ ref('base_shop__customers') }}, {{ ref('base_shop__products') }}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_line_id',
    on_schema_change='fail',
) }}

{% if is_incremental() %}
    {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') -%}
{% endif %}

with lines as (

    select * from {{ ref('int_order_lines__enriched') }}
    {% if is_incremental() %}
        -- one semi-join (not an OR of three), so that the filter runs before the enrichment joins
        where order_line_id in (
            select order_line_id from {{ ref('stg_shop__order_lines') }}
            where refreshed_at > {{ watermark }}
            union
            select order_line_id from {{ ref('stg_shop__order_lines') }}
            where customer_id in (
                select customer_id from {{ ref('base_shop__customers') }}
                where refreshed_at > {{ watermark }}
            )
            union
            select order_line_id from {{ ref('stg_shop__order_lines') }}
            where product_id in (
                select product_id from {{ ref('base_shop__products') }}
                where refreshed_at > {{ watermark }}
            )
        )
    {% endif %}

),

final as (

    select
        order_line_id,
        order_id,
        line_number,
        customer_id,
        source_customer_id,
        is_guest,
        is_unknown_customer,
        product_id,
        source_product_id,
        is_unknown_product,
        category,
        ordered_at,
        order_date,
        status,
        status = 'completed' as is_sale,
        status = 'cancelled' as is_cancelled,
        status = 'returned' as is_returned,
        quantity,
        unit_price,
        cast(quantity * unit_price as decimal(18, 2)) as revenue,
        unit_cost,
        unit_cost is not null as has_cost,
        cast(quantity * unit_cost as decimal(18, 2)) as cost,
        cast(quantity * unit_price - quantity * unit_cost as decimal(18, 2)) as margin,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from lines

)

select * from final
