{#- The key a country spelling is looked up by in stg_reference__countries. -#}
{% macro country_alias_key(expr) -%}
    lower(trim(replace({{ expr }}, '.', '')))
{%- endmacro %}

{#- A plausible e-mail address: one @, no spaces, a dot in the domain. -#}
{% macro is_valid_email(expr) -%}
    coalesce({{ comptoir.regexp_full_match(expr, '[^@ ]+@[^@ ]+[.][^@ ]+') }}, false)
{%- endmacro %}
