{#- One row per clean order line with its money: revenue = quantity × unit_price, cost = quantity
    × unit cost (null when the product's cost is unknown), margin = revenue − cost. Completed lines
    are sales (is_sale); cancelled and returned lines are kept and flagged.

    Incremental (DECISIONS.md "Incremental builds"): the lines whose order line was judged again
    since this table's last refresh, the lines of a customer missing until a customers file brought
    it, and the lines of a product whose record changed what they take from it (existence,
    category, unit cost) are computed again and replace their old rows. A clean line never
    disappears without a rewritten history, which forces a full refresh. -#}

-- depends_on: {{ ref('stg_shop__order_lines') }}, {{ ref('stg_shop__products') }}, {{ ref('base_shop__customers') }}, {{ ref('base_shop__products') }}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_line_id',
    on_schema_change='fail',
) }}

{% if is_incremental() %}
    {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') -%}
{% endif %}

with

{% if is_incremental() %}
    refreshed_products as (

        select distinct product_id from {{ ref('base_shop__products') }}
        where refreshed_at > {{ watermark }}

    ),

    -- what the built lines took from those products, against the products as they are now
    recorded_products as (

        select distinct
            source_product_id as product_id,
            is_unknown_product,
            category,
            unit_cost
        from {{ this }}
        where source_product_id in (select refreshed_products.product_id from refreshed_products)

    ),

    changed_products as (

        select recorded_products.product_id
        from recorded_products
        left join {{ ref('stg_shop__products') }} as products
            on recorded_products.product_id = products.product_id
        where
            recorded_products.is_unknown_product <> (products.product_id is null)
            or recorded_products.category is distinct from coalesce(products.category, 'Unknown')
            or recorded_products.unit_cost is distinct from products.unit_cost

    ),
{% endif %}

lines as (

    select * from {{ ref('int_order_lines__enriched') }}
    {% if is_incremental() %}
        -- one semi-join (not an OR of three), so that the filter runs before the enrichment joins
        where order_line_id in (
            -- lines judged again
            select order_line_id from {{ ref('stg_shop__order_lines') }}
            where refreshed_at > {{ watermark }}
            union
            -- lines of a customer exported after them: UNKNOWN until now (a customer never
            -- disappears without a rewritten history, which rebuilds this table in full)
            select order_line_id from {{ this }}
            where
                is_unknown_customer
                and source_customer_id in (
                    select customer_id from {{ ref('base_shop__customers') }}
                    where refreshed_at > {{ watermark }}
                )
            union
            -- lines of a product whose existence, category or unit cost changed
            select order_line_id from {{ this }}
            where source_product_id in (select changed_products.product_id from changed_products)
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
        {{ comptoir.line_amount('quantity', 'unit_price') }} as revenue,
        unit_cost,
        unit_cost is not null as has_cost,
        {{ comptoir.line_amount('quantity', 'unit_cost') }} as cost,
        {{ comptoir.line_amount('quantity', 'unit_price - unit_cost') }} as margin,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from lines

)

select * from final
