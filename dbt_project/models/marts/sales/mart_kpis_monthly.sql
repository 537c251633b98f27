{#- One row per month of dim_date: the headline KPIs of the month, counted up to the as-of date
    (a month after it shows zeros; the as-of month is month-to-date). Same definitions as
    mart_kpis (DECISIONS.md: Sales KPI definitions), except repeat_purchase_rate, which here is
    the share of the month's customers who had a sale order in an earlier month. Web and e-mail
    figures are 0 (rates null) when their optional source is absent or empty. -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

customer_months as (

    -- per-customer figures follow each line's own customer (DECISIONS.md: Customer of a sale)
    select * from {{ ref('int_customer_sale_months') }}

),

web_sessions as (

    select * from {{ ref('stg_shop__web_sessions') }}

),

email_events as (

    select * from {{ ref('stg_shop__email_events') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

as_of as (

    select * from {{ ref('int_as_of_date') }}

),

months as (

    select distinct month_start from calendar

),

-- the days counted: the calendar up to the as-of date
counted_days as (

    select
        calendar.date_day,
        calendar.month_start
    from calendar
    cross join as_of
    where calendar.date_day <= as_of.as_of_date

),

sale_orders as (

    select
        counted_days.month_start,
        orders.units,
        orders.revenue,
        orders.cost,
        orders.costed_revenue,
        orders.margin
    from orders
    inner join counted_days on orders.order_date = counted_days.date_day
    where orders.is_sale

),

monthly_customers as (

    select
        customer_months.month_start,
        count(*) as customers,
        sum(case when customer_months.is_first_sale_month then 1 else 0 end) as new_customers
    from customer_months
    cross join as_of
    where customer_months.first_order_date <= as_of.as_of_date
    group by customer_months.month_start

),

monthly_sales as (

    select
        month_start,
        count(*) as orders,
        sum(units) as units,
        sum(revenue) as revenue,
        sum(coalesce(cost, 0)) as cost,
        sum(costed_revenue) as costed_revenue,
        sum(coalesce(margin, 0)) as margin
    from sale_orders
    group by month_start

),

monthly_lines as (

    select
        counted_days.month_start,
        count(*) as order_lines,
        sum(case when order_lines.is_sale then 1 else 0 end) as completed_lines,
        sum(case when order_lines.is_cancelled then 1 else 0 end) as cancelled_lines,
        sum(case when order_lines.is_returned then 1 else 0 end) as returned_lines,
        sum(
            case
                when order_lines.is_sale and order_lines.customer_id <> '{{ var("unknown_member_id") }}'
                    then order_lines.revenue
                else 0
            end
        ) as known_customer_revenue,
        sum(case when order_lines.is_sale and order_lines.is_guest then order_lines.revenue else 0 end) as guest_revenue
    from order_lines
    inner join counted_days on order_lines.order_date = counted_days.date_day
    group by counted_days.month_start

),

monthly_sessions as (

    select
        counted_days.month_start,
        count(*) as sessions,
        sum(case when web_sessions.is_converted then 1 else 0 end) as converted_sessions
    from web_sessions
    inner join counted_days on web_sessions.session_date = counted_days.date_day
    group by counted_days.month_start

),

-- an e-mail is one recipient × campaign: repeated opens or clicks of it count once
monthly_emails as (

    select
        counted_days.month_start,
        email_events.event_type,
        email_events.customer_id,
        email_events.campaign_id
    from email_events
    inner join counted_days on email_events.event_date = counted_days.date_day
    group by
        counted_days.month_start,
        email_events.event_type,
        email_events.customer_id,
        email_events.campaign_id

),

monthly_email_counts as (

    select
        month_start,
        sum(case when event_type = 'sent' then 1 else 0 end) as emails_sent,
        sum(case when event_type = 'opened' then 1 else 0 end) as emails_opened,
        sum(case when event_type = 'clicked' then 1 else 0 end) as emails_clicked
    from monthly_emails
    group by month_start

),

filled as (

    select
        months.month_start,
        {{ comptoir.cents('coalesce(monthly_sales.revenue, 0)') }} as revenue,
        {{ comptoir.cents('coalesce(monthly_sales.cost, 0)') }} as cost,
        {{ comptoir.cents('coalesce(monthly_sales.costed_revenue, 0)') }} as costed_revenue,
        {{ comptoir.cents_margin('coalesce(monthly_sales.costed_revenue, 0)', 'coalesce(monthly_sales.cost, 0)') }} as margin,
        cast(coalesce(monthly_sales.orders, 0) as bigint) as orders,
        cast(coalesce(monthly_sales.units, 0) as bigint) as units,
        cast(coalesce(monthly_customers.customers, 0) as bigint) as customers,
        cast(coalesce(monthly_customers.new_customers, 0) as bigint) as new_customers,
        {{ comptoir.cents('coalesce(monthly_lines.known_customer_revenue, 0)') }} as known_customer_revenue,
        {{ comptoir.cents('coalesce(monthly_lines.guest_revenue, 0)') }} as guest_revenue,
        cast(coalesce(monthly_lines.order_lines, 0) as bigint) as order_lines,
        cast(coalesce(monthly_lines.completed_lines, 0) as bigint) as completed_lines,
        cast(coalesce(monthly_lines.cancelled_lines, 0) as bigint) as cancelled_lines,
        cast(coalesce(monthly_lines.returned_lines, 0) as bigint) as returned_lines,
        cast(coalesce(monthly_sessions.sessions, 0) as bigint) as sessions,
        cast(coalesce(monthly_sessions.converted_sessions, 0) as bigint) as converted_sessions,
        cast(coalesce(monthly_email_counts.emails_sent, 0) as bigint) as emails_sent,
        cast(coalesce(monthly_email_counts.emails_opened, 0) as bigint) as emails_opened,
        cast(coalesce(monthly_email_counts.emails_clicked, 0) as bigint) as emails_clicked
    from months
    left join monthly_sales on months.month_start = monthly_sales.month_start
    left join monthly_customers on months.month_start = monthly_customers.month_start
    left join monthly_lines on months.month_start = monthly_lines.month_start
    left join monthly_sessions on months.month_start = monthly_sessions.month_start
    left join monthly_email_counts on months.month_start = monthly_email_counts.month_start

),

final as (

    select
        month_start,
        {{ kpi_sales_columns() }},
        new_customers,
        customers - new_customers as returning_customers,
        {{ kpi_rate_columns('customers - new_customers') }}
    from filled

)

select * from final
