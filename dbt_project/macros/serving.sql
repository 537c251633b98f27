{#- Serving marts (DECISIONS.md "Serving marts"): rollups of the completed order lines at the grain the
    dashboards' and the API's filters need, rebuilt day by day. -#}

{#- The order days whose serving rows an incremental build computes again: the days of order lines
    refreshed since this table's last refresh and of the versions they replaced, and every day of the
    lines of a customer or a product whose record was refreshed (its country, name or brand is copied
    onto the serving rows). The days come from the line table, whose order_date is sorted, so a new
    day of data touches a day of rows. -#}
{% macro serving_touched_days() -%}
    {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') -%}
    select order_date from {{ ref('fct_order_lines') }}
    where refreshed_at > {{ watermark }}
    union
    select cast(ordered_at as date) from {{ ref('base_shop__orders') }}
    where refreshed_at > {{ watermark }} and ordered_at is not null
    union
    select order_date from {{ ref('fct_order_lines') }}
    where
        customer_id in (
            select customer_id from {{ ref('base_shop__customers') }}
            where refreshed_at > {{ watermark }}
        )
        or product_id in (
            select product_id from {{ ref('base_shop__products') }}
            where refreshed_at > {{ watermark }}
        )
{%- endmacro %}


{#- A pre-hook: remove the rows of the touched days before they are computed again (delete+insert
    deletes only the days present in the new rows, so a day left without any sale would keep its
    stale rows). -#}
{% macro delete_serving_touched_days() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where order_date in ({{ comptoir.serving_touched_days() }})
    {%- endif -%}
{%- endmacro %}


{#- The completed order lines of the days to (re)build, with the buyer's country and tier and the
    product's name and brand, joined as the line-level sales_lines dataset joins them (guests and
    customers missing from dim_customers: country 'Unknown'). -#}
{% macro serving_sale_lines() -%}
    select
        lines.*,
        customers.country_code,
        coalesce(customers.country_name, 'Unknown') as country_name,
        customers.loyalty_tier,
        products.product_name,
        products.brand
    from {{ ref('fct_order_lines') }} as lines
    left join {{ ref('dim_customers') }} as customers on lines.customer_id = customers.customer_id
    left join {{ ref('dim_products') }} as products on lines.product_id = products.product_id
    where
        lines.is_sale
        {% if is_incremental() %}
            and lines.order_date in ({{ comptoir.serving_touched_days() }})
        {% endif %}
{%- endmacro %}
