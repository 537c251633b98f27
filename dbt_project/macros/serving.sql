{#- Serving marts (DECISIONS.md "Serving marts"): rollups of the completed order lines at the grain the
    dashboards' and the API's filters need, rebuilt day by day. -#}

{#- The order days whose serving rows an incremental build computes again: the days of order lines
    refreshed since this table's last refresh (fct_order_lines recomputes a line whose customer,
    category or cost changed) and of the versions they replaced, and every day of the lines of a
    customer whose record was refreshed (the buyer's country and tier are copied onto the rows).
    A model configured `copies_products=true` also copies the product's name and brand: then the days
    of a refreshed product whose copied name or brand differs from dim_products' are touched too (a
    changed category refreshes the product's lines in fct_order_lines). The days
    come from tables sorted by day, so a new day of data touches a day of rows. -#}
{% macro serving_touched_days() -%}
    {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') -%}
    select order_date from {{ ref('fct_order_lines') }}
    where refreshed_at > {{ watermark }}
    union
    select cast(ordered_at as date) from {{ ref('base_shop__orders') }}
    where refreshed_at > {{ watermark }} and ordered_at is not null
    union
    select order_date from {{ ref('fct_order_lines') }}
    where customer_id in (
        select customer_id from {{ ref('base_shop__customers') }}
        where refreshed_at > {{ watermark }}
    )
    {%- if config.get('copies_products', false) %}
    union
    select built.order_date from {{ this }} as built
    left join {{ ref('dim_products') }} as products on built.product_id = products.product_id
    where
        built.product_id in (
            select product_id from {{ ref('base_shop__products') }}
            where refreshed_at > {{ watermark }}
        )
        and (
            built.product_name is distinct from products.product_name
            or built.brand is distinct from products.brand
        )
    {%- endif %}
{%- endmacro %}


{#- The touched days as a list of date literals, read when the model runs (like the watermark): the line
    table is then filtered by constants, which DuckDB prunes by row-group statistics before any join,
    where a subquery left the joins to run over the whole history first (out of memory at 10 M lines). -#}
{% macro serving_touched_day_list() -%}
    {%- set days = [] -%}
    {%- if execute -%}
        {%- set result = run_query(
            "select distinct cast(order_date as " ~ dbt.type_string() ~ ") from ("
            ~ comptoir.serving_touched_days() ~ ") as touched where order_date is not null order by 1") -%}
        {%- set days = result.columns[0].values() | list -%}
    {%- endif -%}
    (
    {%- for day in days -%}
        cast('{{ day }}' as date){% if not loop.last %}, {% endif %}
    {%- else -%}
        cast(null as date)
    {%- endfor -%}
    )
{%- endmacro %}


{#- A pre-hook: remove the rows of the touched days before they are computed again (delete+insert
    deletes only the days present in the new rows, so a day left without any sale would keep its
    stale rows). -#}
{% macro delete_serving_touched_days() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where order_date in {{ comptoir.serving_touched_day_list() }}
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
            and lines.order_date in {{ comptoir.serving_touched_day_list() }}
        {% endif %}
{%- endmacro %}


{#- The first of serving_touched_days as a date literal, read when an incremental run runs; `none` on a full
    build and when no day is touched. For a model whose rows depend on the days before theirs
    (mart_serving_distinct_counts): it recomputes every day from this one on. -#}
{% macro serving_first_touched_day() -%}
    {%- set first = none -%}
    {%- if execute and is_incremental() -%}
        {%- set result = run_query(
            "select cast(min(order_date) as " ~ dbt.type_string() ~ ") from ("
            ~ comptoir.serving_touched_days() ~ ") as touched") -%}
        {%- set first = result.columns[0].values()[0] -%}
    {%- endif -%}
    {{ return("cast('" ~ first ~ "' as date)" if first else none) }}
{%- endmacro %}


{#- A pre-hook: remove the rows from the first touched day on before they are computed again. -#}
{% macro delete_serving_days_since_first_touched() -%}
    {%- set since = comptoir.serving_first_touched_day() -%}
    {%- if since -%}
        delete from {{ this }} where order_date >= {{ since }}
    {%- endif -%}
{%- endmacro %}


{#- mart_serving_distinct_counts: each order's and each known customer's days in each category scope of
    `sale_orders` (mart_serving_sale_orders) that meet `condition`: all categories together (category
    null), and each category. A customer has one country (dim_customers'), so its appearances in a country are
    all of them. One `select distinct` per scope (a cross join with the scopes made four copies of every row
    first: twice as slow). -#}
{% macro serving_scoped_days(sale_orders, condition) -%}
{%- for measure, counted_id, per_category in [
    ('orders', 'order_id', false), ('orders', 'order_id', true),
    ('customers', 'customer_id', false), ('customers', 'customer_id', true)] %}
    {% if not loop.first %}union all{% endif %}
    select distinct
        '{{ measure }}' as measure,
        {{ counted_id }} as counted_id,
        {{ 'category' if per_category else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as category,
        order_date,
        country_code,
        country_name
    from {{ sale_orders }}
    where {{ condition }}
    {%- if measure == 'customers' %}
        and is_known_customer
    {%- endif %}
{% endfor %}
{%- endmacro %}
