{#- Small, portable cleaning helpers used by the staging base models. -#}

{% macro clean_text(expr) -%}
    nullif(trim({{ expr }}), '')
{%- endmacro %}

{#- A value shaped like an ISO-8601 date or timestamp; used to tell an unparsable value
    ("31/12/2024") from an impossible one ("2025-02-30"). -#}
{% macro looks_like_iso_timestamp(expr) -%}
    {{ comptoir.regexp_full_match(
        expr, '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?'
    ) }}
{%- endmacro %}

{% macro looks_like_integer(expr) -%}
    {{ comptoir.regexp_full_match(expr, '[+-]?[0-9]+') }}
{%- endmacro %}

{% macro looks_like_decimal(expr) -%}
    {{ comptoir.regexp_full_match(expr, '[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)') }}
{%- endmacro %}

{#- The first rule a row breaks, or null. `rules` is a list of (condition, rule code) pairs,
    checked in order, so each quarantined row carries exactly one rule. -#}
{% macro first_broken_rule(rules) -%}
    case
        {%- for condition, code in rules %}
        when {{ condition }} then '{{ code }}'
        {%- endfor %}
    end
{%- endmacro %}
