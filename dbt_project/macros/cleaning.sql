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

{#- The rules of a delivered whole number, as (condition, rule) pairs for first_broken_rule: not shaped
    like an integer (2.5 and 1e3 included, which a plain cast would turn into 3 and 1000) is
    unparsable_quantity; shaped like one but past the column's type or past `max_value` is
    quantity_out_of_range (orchestration/contract.py bounds). `required`: an empty value breaks the first. -#}
{% macro integer_text_rules(text, value, max_value=none, required=true) -%}
    {%- set shaped = "coalesce(" ~ comptoir.looks_like_integer(text) ~ ", false)" -%}
    {%- set beyond = " or " ~ value ~ " > " ~ max_value if max_value is not none else "" -%}
    {{ return([
        ((text ~ " is null or not " ~ shaped) if required else (text ~ " is not null and not " ~ shaped),
            "unparsable_quantity"),
        (text ~ " is not null and (" ~ value ~ " is null" ~ beyond ~ ")", "quantity_out_of_range"),
    ]) }}
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
