{#- Grain: one row per buyer country with a country code and completed-sale revenue in the months up to the
    as-of date's month: the countries the forecasts take public holidays from are chosen among these
    (ml/forecasting/holidays.py). revenue_share is of the revenue with a known country. -#}

with as_of as (

    select as_of_date from {{ ref('feat_as_of_date') }}

),

sales_by_country as (

    select * from {{ ref('mart_sales_by_country') }}

),

final as (

    select
        sales_by_country.country_code,
        min(sales_by_country.country_name) as country_name,
        cast(sum(sales_by_country.revenue) as double) as revenue,
        cast(sum(sales_by_country.revenue) as double)
        / nullif(sum(sum(sales_by_country.revenue)) over (), 0) as revenue_share
    from sales_by_country
    cross join as_of
    where sales_by_country.country_code is not null and sales_by_country.month_start <= as_of.as_of_date
    group by sales_by_country.country_code
    having sum(sales_by_country.revenue) > 0

)

select * from final
