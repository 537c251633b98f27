{#- Engine-specific parsing behind adapter.dispatch, so models stay portable.
    Each macro has a default (ANSI-ish / Postgres) and a DuckDB implementation. -#}

{% macro regexp_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regexp_full_match', 'comptoir')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regexp_full_match(expr, pattern) -%}
    ({{ expr }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}

{% macro duckdb__regexp_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__regexp_full_match(expr, pattern) -%}
    ({{ expr }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}


{% macro try_cast(expr, type) -%}
    {{ return(adapter.dispatch('try_cast', 'comptoir')(expr, type)) }}
{%- endmacro %}

{% macro default__try_cast(expr, type) -%}
    try_cast({{ expr }} as {{ type }})
{%- endmacro %}


{% macro row_to_json(columns) -%}
    {{ return(adapter.dispatch('row_to_json', 'comptoir')(columns)) }}
{%- endmacro %}

{% macro default__row_to_json(columns) -%}
    json_build_object(
        {%- for column in columns %}
        '{{ column }}', {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
    )::text
{%- endmacro %}

{% macro duckdb__row_to_json(columns) -%}
    to_json(struct_pack(
        {%- for column in columns %}
        {{ adapter.quote(column) }} := {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
    ))::varchar
{%- endmacro %}


{#- ISO day of week: 1 = Monday … 7 = Sunday. -#}
{% macro day_of_week_iso(expr) -%}
    {{ return(adapter.dispatch('day_of_week_iso', 'comptoir')(expr)) }}
{%- endmacro %}

{% macro default__day_of_week_iso(expr) -%}
    cast(extract(isodow from {{ expr }}) as integer)
{%- endmacro %}

{% macro duckdb__day_of_week_iso(expr) -%}
    cast(isodow({{ expr }}) as integer)
{%- endmacro %}


{#- A category name as a column-safe slug: lower case, accents stripped, every run of other characters one
    underscore, trimmed; empty or null -> 'unknown' ("Beauté & Soins" -> 'beaute_soins'). The ML code names one
    feature column per category with it. -#}
{% macro category_slug(expr) -%}
    {{ return(adapter.dispatch('category_slug', 'comptoir')(expr)) }}
{%- endmacro %}

{% macro default__category_slug(expr) -%}
    coalesce(nullif(trim(both '_' from regexp_replace(lower({{ expr }}), '[^a-z0-9]+', '_', 'g')), ''), 'unknown')
{%- endmacro %}

{% macro duckdb__category_slug(expr) -%}
    coalesce(nullif(trim(regexp_replace(lower(strip_accents(coalesce({{ expr }}, ''))), '[^a-z0-9]+', '_', 'g'), '_'), ''), 'unknown')
{%- endmacro %}

{% macro spark__category_slug(expr) -%}
    {#- Spark SQL has no strip_accents: the accented Latin letters DuckDB's strip_accents maps are translated
        by hand (ø, ß, œ and æ have no decomposition, so both engines leave them to the underscore rule). -#}
    coalesce(nullif(regexp_replace(regexp_replace(
        translate(lower(coalesce({{ expr }}, '')), 'àáâãäåāçćčèéêëēėęìíîïīįñńòóôõöōùúûüūÿýžźż', 'aaaaaaaccceeeeeeeiiiiiinnoooooouuuuuyyzzz'),
        '[^a-z0-9]+', '_'), '^_+|_+$', ''), ''), 'unknown')
{%- endmacro %}


{#- The median of a group (for an even count, the mean of the two middle values), as an aggregate. -#}
{% macro median(expr) -%}
    {{ return(adapter.dispatch('median', 'comptoir')(expr)) }}
{%- endmacro %}

{% macro default__median(expr) -%}
    percentile_cont(0.5) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    median({{ expr }})
{%- endmacro %}

{% macro spark__median(expr) -%}
    percentile({{ expr }}, 0.5)
{%- endmacro %}
