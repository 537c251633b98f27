{#- Generic tests written here because the dbt Hub (dbt_utils, dbt_expectations) is unreachable.
    Each returns the failing rows; zero rows passes. -#}

{#- Every row satisfies a SQL boolean expression. -#}
{% test expression_is_true(model, expression, where=none) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}


{#- The combination of columns is unique. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}


{#- A column's values lie within bounds (nulls are left to not_null). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and (
    1 = 0
    {%- if min_value is not none %} or {{ column_name }} {{ '<' if inclusive else '<=' }} {{ min_value }}{% endif %}
    {%- if max_value is not none %} or {{ column_name }} {{ '>' if inclusive else '>=' }} {{ max_value }}{% endif %}
  )
{% endtest %}


{#- An aggregate over this model equals the same aggregate over another (e.g. daily revenue sums
    to the fact table's revenue). Compared exactly: use it on decimals, not floats. -#}
{% test equal_aggregate(model, expression, compare_model, compare_expression=none, where=none, compare_where=none) %}
with this_side as (
    select {{ expression }} as value from {{ model }}
    {% if where %}where {{ where }}{% endif %}
),
other_side as (
    select {{ compare_expression or expression }} as value from {{ compare_model }}
    {% if compare_where %}where {{ compare_where }}{% endif %}
)
select this_side.value as model_value, other_side.value as compare_value
from this_side cross join other_side
where this_side.value is distinct from other_side.value
  and not (this_side.value is null and other_side.value = 0)
  and not (other_side.value is null and this_side.value = 0)
{% endtest %}


{#- Every value of a date column between the first and last day is present (no gaps). -#}
{% test no_date_gaps(model, column_name, partition_by=none) %}
with bounds as (
    select {% if partition_by %}{{ partition_by }},{% endif %}
        min({{ column_name }}) as first_day, max({{ column_name }}) as last_day,
        count(distinct {{ column_name }}) as days_present
    from {{ model }}
    {% if partition_by %}group by {{ partition_by }}{% endif %}
)
select *
from bounds
where days_present <> {{ dbt.datediff('first_day', 'last_day', 'day') }} + 1
{% endtest %}


{#- Row-level checks of one model in a single scan (DECISIONS.md "Tests that scale"): columns that
    must not be null, columns whose non-null values must be in a list or within bounds, and boolean
    expressions every row must satisfy. Returns one row per check that failed, naming the column,
    the check, how many rows broke it and one offending value; the test's failure count is the sum
    of failing rows. Replaces one not_null / accepted_values / accepted_range / expression_is_true
    test per column or expression (each a dbt node with its own overhead and its own scan).
    accepted_values: {column: [values]} (quoted as text unless `quote_values` is false), or
    {column: {values: [...], quote: false}} for values written as SQL literals;
    accepted_range: {column: {min_value, max_value, inclusive}} as in accepted_range. -#}
{% test column_checks(model, not_null=none, accepted_values=none, accepted_range=none, expressions=none,
                      quote_values=true) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
{%- set checks = [] -%}
{%- for column in not_null or [] -%}
    {%- do checks.append({'column': column, 'check': 'not_null', 'failing': column ~ ' is null',
                          'value': 'null'}) -%}
{%- endfor -%}
{%- for column, accepted in (accepted_values or {}).items() -%}
    {%- set values = accepted['values'] if accepted is mapping else accepted -%}
    {%- set quote = accepted.get('quote', quote_values) if accepted is mapping else quote_values -%}
    {%- set literals = [] -%}
    {%- for value in values -%}
        {%- do literals.append(("'" ~ (value | string | replace("'", "''")) ~ "'") if quote else (value | string)) -%}
    {%- endfor -%}
    {%- do checks.append({'column': column, 'check': 'accepted_values: ' ~ (values | join(', ')),
                          'failing': column ~ ' is not null and ' ~ column ~ ' not in (' ~ (literals | join(', ')) ~ ')',
                          'value': 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')'}) -%}
{%- endfor -%}
{%- for column, bounds in (accepted_range or {}).items() -%}
    {%- set inclusive = bounds.get('inclusive', true) -%}
    {%- set conditions = [] -%}
    {%- if bounds.get('min_value') is not none -%}
        {%- do conditions.append(column ~ (' < ' if inclusive else ' <= ') ~ bounds['min_value']) -%}
    {%- endif -%}
    {%- if bounds.get('max_value') is not none -%}
        {%- do conditions.append(column ~ (' > ' if inclusive else ' >= ') ~ bounds['max_value']) -%}
    {%- endif -%}
    {%- do checks.append({'column': column,
                          'check': 'accepted_range: ' ~ ('min ' ~ bounds['min_value'] if bounds.get('min_value') is not none else '')
                                   ~ (' max ' ~ bounds['max_value'] if bounds.get('max_value') is not none else '')
                                   ~ ('' if inclusive else ' (exclusive)'),
                          'failing': column ~ ' is not null and (' ~ (conditions | join(' or ') or '1 = 0') ~ ')',
                          'value': 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')'}) -%}
{%- endfor -%}
{%- for expression in expressions or [] -%}
    {%- do checks.append({'column': none, 'check': 'expression: ' ~ expression,
                          'failing': 'not coalesce((' ~ expression ~ '), false)', 'value': 'null'}) -%}
{%- endfor -%}
with counts as (

    select
        {%- for check in checks %}
        sum(case when {{ check.failing }} then 1 else 0 end) as failing_{{ loop.index }},
        min(case when {{ check.failing }} then {{ check.value }} end) as example_{{ loop.index }}
        {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ model }}

)

{% for check in checks -%}
select
    {% if check.column %}'{{ check.column }}'{% else %}cast(null as {{ dbt.type_string() }}){% endif %} as column_name,
    '{{ check.check | replace("'", "''") }}' as check_name,
    failing_{{ loop.index }} as failing_rows,
    cast(example_{{ loop.index }} as {{ dbt.type_string() }}) as example_value
from counts
where failing_{{ loop.index }} > 0
{% if not loop.last %}union all
{% endif %}
{%- endfor %}
{% endtest %}


{#- Several equal_aggregate comparisons of one model in one test (DECISIONS.md "Tests that scale"):
    each entry of `comparisons` has the keys of equal_aggregate (expression, compare_model,
    compare_expression, where, compare_where) and is compared exactly as equal_aggregate does, unless
    it has a `tolerance`: an expression over the model (e.g. 0.005 * count(*): money rounded once to
    the cent per row, macros/money.sql) that the absolute difference may not exceed. Returns one row
    per comparison that differs, naming it. -#}
{% test equal_aggregates(model, comparisons) %}
{%- for comparison in comparisons %}
select
    '{{ comparison.expression | replace("'", "''") }}' as expression,
    '{{ comparison.compare_model | string | replace("'", "''") }}' as compare_model,
    '{{ (comparison.compare_expression or comparison.expression) | replace("'", "''") }}' as compare_expression,
    cast(this_side.value as {{ dbt.type_string() }}) as model_value,
    cast(other_side.value as {{ dbt.type_string() }}) as compare_value
from (
    select
        {{ comparison.expression }} as value,
        {{ comparison.tolerance or 0 }} as tolerance
    from {{ model }}
    {% if comparison.where %}where {{ comparison.where }}{% endif %}
) as this_side
cross join (
    select {{ comparison.compare_expression or comparison.expression }} as value from {{ comparison.compare_model }}
    {% if comparison.compare_where %}where {{ comparison.compare_where }}{% endif %}
) as other_side
{%- if comparison.tolerance %}
where not (abs(coalesce(this_side.value, 0) - coalesce(other_side.value, 0)) <= this_side.tolerance)
{%- else %}
where this_side.value is distinct from other_side.value
  and not (this_side.value is null and other_side.value = 0)
  and not (other_side.value is null and this_side.value = 0)
{%- endif %}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{% endtest %}
