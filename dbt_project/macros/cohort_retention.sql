{#- The body of mart_cohort_retention_monthly and mart_cohort_retention_weekly: one row per
    cohort × period since it, for grain 'month' or 'week'. A known customer's cohort is the period
    (month, or ISO week starting Monday) of their first sale order; period 0 is that period, and
    every period up to the as-of date's has a row (0 active customers when nobody bought). Periods
    are counted with dbt.datediff between period starts, so weeks cross year ends cleanly
    (DECISIONS.md: Cohort retention). -#}
{% macro cohort_retention(grain) -%}
{%- if grain not in ('month', 'week') -%}
    {{ exceptions.raise_compiler_error("cohort_retention: grain must be 'month' or 'week', got " ~ grain) }}
{%- endif %}
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
        cast({{ dbt.date_trunc(grain, 'orders.order_date') }} as date) as order_{{ grain }}
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
        min(order_{{ grain }}) as cohort_{{ grain }}
    from customer_sale_orders
    group by customer_id

),

cohorts as (

    select
        cohort_{{ grain }},
        cast(count(*) as bigint) as cohort_size
    from cohort_members
    group by cohort_{{ grain }}

),

periods as (

    select distinct calendar.{{ grain }}_start as period_start
    from calendar
    cross join as_of
    where calendar.{{ grain }}_start <= as_of.as_of_date

),

cohort_periods as (

    select
        cohorts.cohort_{{ grain }},
        periods.period_start,
        cohorts.cohort_size
    from cohorts
    inner join periods on cohorts.cohort_{{ grain }} <= periods.period_start

),

activity as (

    select
        cohort_members.cohort_{{ grain }},
        customer_sale_orders.order_{{ grain }} as period_start,
        cast(count(distinct customer_sale_orders.customer_id) as bigint) as active_customers,
        cast(sum(customer_sale_orders.revenue) as {{ comptoir.amount_type() }}) as revenue
    from customer_sale_orders
    inner join cohort_members on customer_sale_orders.customer_id = cohort_members.customer_id
    group by cohort_members.cohort_{{ grain }}, customer_sale_orders.order_{{ grain }}

),

filled as (

    select
        cohort_periods.cohort_{{ grain }},
        {{ dbt.datediff('cohort_periods.cohort_' ~ grain, 'cohort_periods.period_start', grain) }} as period_number,
        cohort_periods.period_start,
        cohort_periods.cohort_size,
        coalesce(activity.active_customers, 0) as active_customers,
        coalesce(activity.revenue, 0) as revenue
    from cohort_periods
    left join activity
        on
            cohort_periods.cohort_{{ grain }} = activity.cohort_{{ grain }}
            and cohort_periods.period_start = activity.period_start

),

final as (

    select
        cohort_{{ grain }},
        period_number,
        period_start,
        cohort_size,
        active_customers,
        cast(1.0 * active_customers / cohort_size as decimal(9, 4)) as retention_pct,
        {{ comptoir.cents('revenue') }} as revenue,
        {%- set running_revenue = 'sum(revenue) over (partition by cohort_' ~ grain
            ~ ' order by period_start rows between unbounded preceding and current row)' %}
        {{ comptoir.cents(running_revenue) }} as cumulative_revenue,
        {{ comptoir.cents('1.0 * ' ~ running_revenue ~ ' / cohort_size') }} as cumulative_revenue_per_customer
    from filled

)

select * from final
{%- endmacro %}
