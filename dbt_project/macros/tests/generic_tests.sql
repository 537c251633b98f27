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
