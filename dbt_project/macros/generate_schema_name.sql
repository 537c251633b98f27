{#- Models land in the schema their folder names (staging, intermediate, marts), not
    "<target schema>_<folder>", so dashboards and notebooks query marts.<model>. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name else target.schema }}
{%- endmacro %}
