{#- Every row that breaks a data-quality rule, from every source: which rule, the natural key,
    the original values as exported (JSON) and where it came from. Nothing is dropped silently:
    raw rows = staged rows + quarantined rows + removed duplicates (tests/reconcile_sources.sql). -#}

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

with rules as (

    select * from {{ ref('dq_rules') }}

),

{% for source_name, base_model, natural_key, raw_columns in sources %}
    raw_{{ source_name }} as (

        select
            _line_number,
            {{ comptoir.row_to_json(raw_columns) }} as original_values
        from {{ source('shop', source_name) }}

    ),
{% endfor %}

quarantined as (

    {% for source_name, base_model, natural_key, raw_columns in sources %}
        select
            '{{ source_name }}' as source,
            {{ natural_key }} as natural_key,
            base.dq_rule as rule,
            raw_rows.original_values,
            base.source_file,
            base.source_line,
            base.loaded_at
        from {{ ref(base_model) }} as base
        inner join raw_{{ source_name }} as raw_rows
            on base.source_line = raw_rows._line_number
        where base.dq_rule is not null
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
    quarantined.loaded_at
from quarantined
left join rules on quarantined.rule = rules.rule
