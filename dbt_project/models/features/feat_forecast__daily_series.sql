{#- Grain: one row per forecast series × day, from the shop's first day with a completed sale to the as-of date:
    the shop's revenue (series 'revenue:total', category 'All categories'), and the revenue and the units of
    every category of mart_daily_sales ('revenue:<category>', 'units:<category>'; the 'Unknown' category of
    products missing from the catalogue included). mart_daily_sales is a dense day × category grid, so every
    series is dense too. Days of the calendar before the first sale are not "no sales" (the shop did not exist
    yet), and days after the as-of date are the future. The names are ml/forecasting/series.py's TOTAL_CATEGORY
    and TOTAL_SERIES. -#}

with as_of as (

    select as_of_date from {{ ref('feat_as_of_date') }}

),

daily_sales as (

    select * from {{ ref('mart_daily_sales') }}

),

daily as (

    -- revenue stays decimal until summed: a sum of doubles depends on the engine's (parallel) order, and the
    -- last bit of a float would change the forecasts' model version between two builds of the same data
    select
        daily_sales.date_day,
        daily_sales.category,
        daily_sales.revenue,
        daily_sales.units
    from daily_sales
    cross join as_of
    where daily_sales.date_day <= as_of.as_of_date

),

first_sale as (

    select min(date_day) as first_day
    from daily
    where revenue <> 0 or units <> 0

),

window_days as (

    select daily.*
    from daily
    cross join first_sale
    where daily.date_day >= first_sale.first_day

),

long as (

    select
        'revenue' as measure,
        'All categories' as category,
        date_day,
        sum(revenue) as y
    from window_days
    group by date_day

    union all

    select
        'revenue' as measure,
        category,
        date_day,
        revenue as y
    from window_days

    union all

    select
        'units' as measure,
        category,
        date_day,
        units as y
    from window_days

),

final as (

    select
        case
            when category = 'All categories' and measure = 'revenue' then 'revenue:total'
            else {{ dbt.concat(['measure', "':'", 'category']) }}
        end as series,
        measure,
        category,
        date_day,
        cast(y as double) as y
    from long

)

select * from final
