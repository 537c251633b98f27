{#- Nothing is lost: for every source, raw rows = staged rows + quarantined rows + removed
    duplicates. Returns the sources where the equation fails. Shown in Dagster as a check of
    dq_quarantine. -#}

{{ config(meta={'dagster': {'ref': {'name': 'dq_quarantine'}}}) }}

{%- set sources = [
    ('orders', 'stg_shop__order_lines', 'base_shop__orders'),
    ('customers', 'stg_shop__customers', 'base_shop__customers'),
    ('products', 'stg_shop__products', 'base_shop__products'),
    ('inventory', 'stg_shop__inventory_snapshots', 'base_shop__inventory'),
    ('web_sessions', 'stg_shop__web_sessions', 'base_shop__web_sessions'),
    ('email_events', 'stg_shop__email_events', 'base_shop__email_events'),
] -%}

with counts as (

    {% for source_name, staged_model, base_model in sources %}
        select
            '{{ source_name }}' as source,
            (select count(*) from {{ source('shop', source_name) }}) as raw_rows,
            (select count(*) from {{ ref(staged_model) }}) as staged_rows,
            (
                select count(*) from {{ ref('dq_quarantine') }}
                where source = '{{ source_name }}'
            ) as quarantined_rows,
            (
                select count(*) from {{ ref(base_model) }}
                where removed_as is not null
            ) as removed_duplicates
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select *
from counts
where raw_rows <> staged_rows + quarantined_rows + removed_duplicates
