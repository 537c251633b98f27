{#- One row per weekly cohort and week since it: a known customer's cohort is the ISO week
    (Monday start) of their first sale order; period 0 is that week, and every week up to the
    as-of date's week has a row (0 active customers when nobody bought). Periods are counted with
    dbt.datediff(cohort_week, period_start, 'week') between Mondays, so they cross year
    boundaries cleanly (DECISIONS.md: Cohort retention). -#}

with orders as (

    select * from {{ ref('int_customer_orders') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

customer_sale_orders as (

    select
        orders.customer_id,
        orders.revenue,
        cast({{ dbt.date_trunc('week', 'orders.order_date') }} as date) as order_week
    from orders
    cross join as_of
    where
        orders.is_sale
        and orders.customer_id is not null
        and orders.customer_id <> '{{ var("unknown_member_id") }}'
        and orders.order_date <= as_of.as_of_date

),

cohort_members as (

    select
        customer_id,
        min(order_week) as cohort_week
    from customer_sale_orders
    group by customer_id

),

cohorts as (

    select
        cohort_week,
        cast(count(*) as bigint) as cohort_size
    from cohort_members
    group by cohort_week

),

weeks as (

    select distinct calendar.week_start as period_start
    from calendar
    cross join as_of
    where calendar.week_start <= as_of.as_of_date

),

cohort_periods as (

    select
        cohorts.cohort_week,
        weeks.period_start,
        cohorts.cohort_size
    from cohorts
    inner join weeks on cohorts.cohort_week <= weeks.period_start

),

activity as (

    select
        cohort_members.cohort_week,
        customer_sale_orders.order_week as period_start,
        cast(count(distinct customer_sale_orders.customer_id) as bigint) as active_customers,
        cast(sum(customer_sale_orders.revenue) as decimal(18, 2)) as revenue
    from customer_sale_orders
    inner join cohort_members on customer_sale_orders.customer_id = cohort_members.customer_id
    group by cohort_members.cohort_week, customer_sale_orders.order_week

),

filled as (

    select
        cohort_periods.cohort_week,
        {{ dbt.datediff('cohort_periods.cohort_week', 'cohort_periods.period_start', 'week') }} as period_number,
        cohort_periods.period_start,
        cohort_periods.cohort_size,
        coalesce(activity.active_customers, 0) as active_customers,
        coalesce(activity.revenue, 0) as revenue
    from cohort_periods
    left join activity
        on
            cohort_periods.cohort_week = activity.cohort_week
            and cohort_periods.period_start = activity.period_start

),

final as (

    select
        cohort_week,
        period_number,
        period_start,
        cohort_size,
        active_customers,
        cast(1.0 * active_customers / cohort_size as decimal(9, 4)) as retention_pct,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(
            sum(revenue) over (partition by cohort_week order by period_start rows between unbounded preceding and current row)
            as decimal(18, 2)
        ) as cumulative_revenue,
        cast(
            1.0 * sum(revenue) over (partition by cohort_week order by period_start rows between unbounded preceding and current row)
            / cohort_size
            as decimal(18, 2)
        ) as cumulative_revenue_per_customer
    from filled

)

select * from final
