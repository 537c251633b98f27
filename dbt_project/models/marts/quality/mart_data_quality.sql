{#- Data quality per source and load, in long form (one row per source × check × detail), so the
    dashboard can chart any of it: rows loaded, lines rejected at load (by reason), rows
    quarantined (by rule), duplicates removed (by kind), references to customers or products
    missing from their file, and values kept but flagged (malformed e-mails, unrecognised countries).
    share = rows ÷ the source file's data lines. -#}

{%- set sources = [
    ('orders', 'base_shop__orders'), ('customers', 'base_shop__customers'),
    ('products', 'base_shop__products'), ('inventory', 'base_shop__inventory'),
    ('web_sessions', 'base_shop__web_sessions'), ('email_events', 'base_shop__email_events'),
] -%}

with load_rejects as (

    select * from {{ source('shop', 'load_rejects') }}

),

quarantine as (

    select * from {{ ref('dq_quarantine') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

customers as (

    select * from {{ ref('stg_shop__customers') }}

),

loaded as (

    {% for source_name, base_model in sources %}
        select
            '{{ source_name }}' as source,
            count(*) as loaded_rows,
            max(loaded_at) as loaded_at
        from {{ ref(base_model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

rejected as (

    select
        source,
        reason as detail,
        count(*) as row_count
    from load_rejects
    group by source, reason

),

file_rows as (

    select
        loaded.source,
        loaded.loaded_at,
        loaded.loaded_rows + coalesce(sum(rejected.row_count), 0) as raw_rows
    from loaded
    left join rejected on loaded.source = rejected.source
    group by loaded.source, loaded.loaded_at, loaded.loaded_rows

),

checks as (

    select
        source,
        'loaded' as check_name,
        'rows loaded into raw' as detail,
        loaded_rows as row_count
    from loaded

    union all

    select
        source,
        'rejected_at_load' as check_name,
        detail,
        row_count
    from rejected

    union all

    select
        source,
        'quarantined' as check_name,
        rule as detail,
        count(*) as row_count
    from quarantine
    group by source, rule

    {% for source_name, base_model in sources %}
        union all

        select
            '{{ source_name }}' as source,
            'removed_duplicate' as check_name,
            removed_as as detail,
            count(*) as row_count
        from {{ ref(base_model) }}
        where removed_as is not null
        group by removed_as
    {% endfor %}

    union all

    select
        'orders' as source,
        'orphan_reference' as check_name,
        'customer missing from customers.json' as detail,
        count(*) as row_count
    from order_lines
    where is_unknown_customer

    union all

    select
        'orders' as source,
        'orphan_reference' as check_name,
        'product missing from products.parquet' as detail,
        count(*) as row_count
    from order_lines
    where is_unknown_product

    union all

    select
        'customers' as source,
        'flagged' as check_name,
        'malformed e-mail kept' as detail,
        count(*) as row_count
    from customers
    where not has_valid_email

    union all

    select
        'customers' as source,
        'flagged' as check_name,
        'unrecognised country kept as exported' as detail,
        count(*) as row_count
    from customers
    where country_code is null and country_as_exported is not null

),

final as (

    select
        checks.source,
        checks.check_name,
        checks.detail,
        cast(checks.row_count as bigint) as row_count,
        cast(file_rows.raw_rows as bigint) as raw_rows,
        cast(
            case when file_rows.raw_rows > 0 then 1.0 * checks.row_count / file_rows.raw_rows end
            as decimal(9, 4)
        ) as share,
        file_rows.loaded_at
    from checks
    inner join file_rows on checks.source = file_rows.source

)

select * from final
