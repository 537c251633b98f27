{#- Every row that breaks a data-quality rule, from every source: which rule, the natural key,
    the original values as exported (JSON) and where it came from. Nothing is dropped silently:
    raw rows = staged rows + quarantined rows + removed duplicates (tests/reconcile_sources.sql).

    Incremental (DECISIONS.md "Incremental builds"): a pre-hook deletes the rows of every base row
    judged again since this table's last refresh (a row may leave the quarantine, e.g. when a new
    file makes it a removed duplicate), then the quarantined ones among them are appended. -#}

{%- set sources = [
    ('orders', 'base_shop__orders',
        "coalesce(order_id, '') || '/' || coalesce(cast(line_number as " ~ dbt.type_string() ~ "), '')",
        ['order_id', 'line_number', 'customer_id', 'product_id', 'quantity', 'unit_price', 'order_date',
         'status', 'shipping_address']),
    ('customers', 'base_shop__customers', 'customer_id',
        ['customer_id', 'name', 'email', 'city', 'country', 'registration_date', 'loyalty_tier']),
    ('products', 'base_shop__products', 'product_id',
        ['product_id', 'name', 'category', 'brand', 'price', 'cost']),
    ('inventory', 'base_shop__inventory',
        "coalesce(product_id, '') || '/' || coalesce(warehouse_id, '')",
        ['product_id', 'warehouse_id', 'stock_quantity', 'last_updated']),
    ('web_sessions', 'base_shop__web_sessions', 'session_id',
        ['session_id', 'customer_id', 'started_at', 'channel', 'device', 'pages_viewed', 'order_id']),
    ('email_events', 'base_shop__email_events', 'event_id',
        ['event_id', 'customer_id', 'campaign_id', 'event_type', 'event_at']),
] -%}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ comptoir.delete_quarantine_of_refreshed_rows() }}",
    on_schema_change='fail',
) }}

{%- if is_incremental() %}
    {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') %}
{%- endif %}

with rules as (

    select * from {{ ref('dq_rules') }}

),

{% for source_name, base_model, natural_key, raw_columns in sources %}
    quarantined_{{ source_name }} as (

        select
            {{ natural_key }} as natural_key,
            dq_rule as rule,
            source_file,
            source_line,
            loaded_at
        from {{ ref(base_model) }}
        where dq_rule is not null
        {% if is_incremental() %}
            and refreshed_at > {{ watermark }}
        {% endif %}

    ),

    -- The raw row of each quarantined row (line numbers repeat across files: join on both);
    -- serialised after the join, so only quarantined rows are turned into JSON.
    with_values_{{ source_name }} as (

        select
            '{{ source_name }}' as source,
            quarantined_rows.natural_key,
            quarantined_rows.rule,
            {{ comptoir.row_to_json(raw_columns) }} as original_values,
            quarantined_rows.source_file,
            quarantined_rows.source_line,
            quarantined_rows.loaded_at
        from quarantined_{{ source_name }} as quarantined_rows
        inner join {{ source('shop', source_name) }} as raw_rows
            on
                quarantined_rows.source_file = raw_rows._source_file
                and quarantined_rows.source_line = raw_rows._line_number

    ),
{% endfor %}

quarantined as (

    {% for source_name, base_model, natural_key, raw_columns in sources %}
        select * from with_values_{{ source_name }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select
    quarantined.source,
    quarantined.natural_key,
    quarantined.rule,
    rules.rule_description,
    quarantined.original_values,
    quarantined.source_file,
    quarantined.source_line,
    quarantined.loaded_at,
    {{ comptoir.batch_started_at() }} as refreshed_at
from quarantined
left join rules on quarantined.rule = rules.rule
