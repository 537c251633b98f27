{#- The calendar spine: one row per day from 1 January of the first order's year to 31 December
    of the as-of date's year, so daily marts show every day (zeros, not gaps). -#}

with bounds as (

    select
        {{ dbt.date_trunc('year', 'min(order_date)') }} as first_day,
        {{ dbt.dateadd('day', -1, dbt.dateadd('year', 1, dbt.date_trunc('year', 'max(as_of.as_of_date)'))) }}
            as last_day
    from {{ ref('stg_shop__order_lines') }}
    cross join {{ ref('int_as_of_date') }} as as_of

),

spine as (

    {{ dbt.date_spine('day', "cast('" ~ var('spine_start') ~ "' as date)", "cast('" ~ var('spine_end') ~ "' as date)") }}

),

days as (

    select cast(spine.date_day as date) as date_day
    from spine
    cross join bounds
    where spine.date_day between bounds.first_day and bounds.last_day

)

select
    date_day,
    cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
    cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
    cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
    cast({{ dbt.date_trunc('year', 'date_day') }} as date) as year_start,
    cast(extract(year from date_day) as integer) as year,
    cast(extract(quarter from date_day) as integer) as quarter,
    cast(extract(month from date_day) as integer) as month,
    cast(extract(day from date_day) as integer) as day_of_month,
    {{ comptoir.day_of_week_iso('date_day') }} as day_of_week,
    {{ comptoir.day_of_week_iso('date_day') }} in (6, 7) as is_weekend
from days
