{#- The date every "as of" figure is measured from (recency, tenure, days of cover): the
    `as_of_date` var when set, else the last day with a clean order line. Fixed to the data
    rather than today, so a rebuild of the same files gives the same marts (DECISIONS.md "As-of date"). -#}

{%- set as_of = var('as_of_date', none) -%}

with last_order as (

    select max(order_date) as last_order_date
    from {{ ref('stg_shop__order_lines') }}

)

select
    {% if as_of %}cast('{{ as_of }}' as date){% else %}coalesce(last_order_date, current_date){% endif %} as as_of_date,
    last_order_date
from last_order
