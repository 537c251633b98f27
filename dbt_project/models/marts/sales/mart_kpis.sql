{#- Exactly one row: the headline KPIs over the whole history, from the first day of dim_date to
    the as-of date (DECISIONS.md: KPI period; Sales KPI definitions). Web and e-mail figures
    are 0 (rates null) when their optional source is absent or empty. new_customers equals
    customers here (every customer's first sale order lies in the period); it is kept so that
    the monthly rows add up to it. -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

customer_orders_source as (

    -- per-customer figures follow each line's own customer (DECISIONS.md: Customer of a sale)
    select * from {{ ref('int_customer_orders') }}

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

period as (

    select
        min(calendar.date_day) as period_start,
        max(as_of.as_of_date) as as_of_date
    from calendar
    cross join as_of

),

sale_orders as (

    select
        orders.units,
        orders.revenue,
        orders.cost,
        orders.costed_revenue,
        orders.margin
    from orders
    cross join period
    where
        orders.is_sale
        and orders.order_date between period.period_start and period.as_of_date

),

customer_orders as (

    select
        customer_orders_source.customer_id,
        count(*) as orders
    from customer_orders_source
    cross join period
    where
        customer_orders_source.is_sale
        and customer_orders_source.customer_id <> '{{ var("unknown_member_id") }}'
        and customer_orders_source.order_date between period.period_start and period.as_of_date
    group by customer_orders_source.customer_id

),

customer_summary as (

    select
        count(*) as customers,
        sum(case when orders >= 2 then 1 else 0 end) as repeat_customers
    from customer_orders

),

sales as (

    select
        count(*) as orders,
        sum(units) as units,
        sum(revenue) as revenue,
        sum(coalesce(cost, 0)) as cost,
        sum(costed_revenue) as costed_revenue,
        sum(coalesce(margin, 0)) as margin
    from sale_orders

),

lines as (

    select
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
    cross join period
    where order_lines.order_date between period.period_start and period.as_of_date

),

sessions as (

    select
        count(*) as sessions,
        sum(case when web_sessions.is_converted then 1 else 0 end) as converted_sessions
    from web_sessions
    cross join period
    where web_sessions.session_date between period.period_start and period.as_of_date

),

-- an e-mail is one recipient × campaign: repeated opens or clicks of it count once
emails as (

    select
        email_events.event_type,
        email_events.customer_id,
        email_events.campaign_id
    from email_events
    cross join period
    where email_events.event_date between period.period_start and period.as_of_date
    group by
        email_events.event_type,
        email_events.customer_id,
        email_events.campaign_id

),

email_counts as (

    select
        sum(case when event_type = 'sent' then 1 else 0 end) as emails_sent,
        sum(case when event_type = 'opened' then 1 else 0 end) as emails_opened,
        sum(case when event_type = 'clicked' then 1 else 0 end) as emails_clicked
    from emails

),

combined as (

    select
        period.period_start,
        period.as_of_date,
        {{ comptoir.cents('coalesce(sales.revenue, 0)') }} as revenue,
        {{ comptoir.cents('coalesce(sales.cost, 0)') }} as cost,
        {{ comptoir.cents('coalesce(sales.costed_revenue, 0)') }} as costed_revenue,
        {{ comptoir.cents_margin('coalesce(sales.costed_revenue, 0)', 'coalesce(sales.cost, 0)') }} as margin,
        cast(coalesce(sales.orders, 0) as bigint) as orders,
        cast(coalesce(sales.units, 0) as bigint) as units,
        cast(coalesce(customer_summary.customers, 0) as bigint) as customers,
        cast(coalesce(customer_summary.repeat_customers, 0) as bigint) as repeat_customers,
        {{ comptoir.cents('coalesce(lines.known_customer_revenue, 0)') }} as known_customer_revenue,
        {{ comptoir.cents('coalesce(lines.guest_revenue, 0)') }} as guest_revenue,
        cast(coalesce(lines.order_lines, 0) as bigint) as order_lines,
        cast(coalesce(lines.completed_lines, 0) as bigint) as completed_lines,
        cast(coalesce(lines.cancelled_lines, 0) as bigint) as cancelled_lines,
        cast(coalesce(lines.returned_lines, 0) as bigint) as returned_lines,
        cast(coalesce(sessions.sessions, 0) as bigint) as sessions,
        cast(coalesce(sessions.converted_sessions, 0) as bigint) as converted_sessions,
        cast(coalesce(email_counts.emails_sent, 0) as bigint) as emails_sent,
        cast(coalesce(email_counts.emails_opened, 0) as bigint) as emails_opened,
        cast(coalesce(email_counts.emails_clicked, 0) as bigint) as emails_clicked
    from period
    cross join sales
    cross join customer_summary
    cross join lines
    cross join sessions
    cross join email_counts

),

final as (

    select
        period_start,
        as_of_date,
        {{ kpi_sales_columns() }},
        customers as new_customers,
        repeat_customers,
        {{ kpi_rate_columns('repeat_customers') }}
    from combined

)

select * from final
