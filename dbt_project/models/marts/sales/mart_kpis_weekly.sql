{#- One row per ISO week (Monday to Sunday) of dim_date up to the as-of date: sale orders, revenue, average
    order value, web sessions and the conversion rate of the week, counted up to the as-of date (the as-of
    week is week-to-date: is_complete tells). What the week-on-week alerts compare (DECISIONS.md: Alerts);
    the same definitions as mart_kpis_monthly (DECISIONS.md: Sales KPI definitions). -#}

with orders as (

    select * from {{ ref('fct_orders') }}

),

web_sessions as (

    select * from {{ ref('stg_shop__web_sessions') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

-- the days counted: the calendar up to the as-of date
counted_days as (

    select
        calendar.date_day,
        calendar.week_start
    from calendar
    cross join as_of
    where calendar.date_day <= as_of.as_of_date

),

weeks as (

    select
        counted_days.week_start,
        max(counted_days.date_day) as last_counted_day
    from counted_days
    group by counted_days.week_start

),

weekly_sales as (

    select
        counted_days.week_start,
        count(*) as orders,
        sum(orders.revenue) as revenue
    from orders
    inner join counted_days on orders.order_date = counted_days.date_day
    where orders.is_sale
    group by counted_days.week_start

),

weekly_sessions as (

    select
        counted_days.week_start,
        count(*) as sessions,
        sum(case when web_sessions.is_converted then 1 else 0 end) as converted_sessions
    from web_sessions
    inner join counted_days on web_sessions.session_date = counted_days.date_day
    group by counted_days.week_start

),

filled as (

    select
        weeks.week_start,
        cast({{ dbt.dateadd('day', 6, 'weeks.week_start') }} as date) as week_end,
        weeks.last_counted_day = cast({{ dbt.dateadd('day', 6, 'weeks.week_start') }} as date) as is_complete,
        cast(coalesce(weekly_sales.orders, 0) as bigint) as orders,
        {{ comptoir.cents('coalesce(weekly_sales.revenue, 0)') }} as revenue,
        cast(coalesce(weekly_sessions.sessions, 0) as bigint) as sessions,
        cast(coalesce(weekly_sessions.converted_sessions, 0) as bigint) as converted_sessions
    from weeks
    left join weekly_sales on weeks.week_start = weekly_sales.week_start
    left join weekly_sessions on weeks.week_start = weekly_sessions.week_start

),

final as (

    select
        week_start,
        week_end,
        is_complete,
        orders,
        revenue,
        {{ comptoir.exact_money_ratio('revenue', 'orders') }} as average_order_value,
        sessions,
        converted_sessions,
        {{ comptoir.exact_ratio('converted_sessions', 'sessions') }} as conversion_rate
    from filled

)

select * from final
