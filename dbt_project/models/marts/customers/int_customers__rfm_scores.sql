{#- Helper of mart_customer_rfm (ephemeral, not a table): one row per known customer with at
    least one sale order up to the as-of date, with recency, frequency, monetary value and their
    1–5 scores. Kept apart from the segment map so each has its own unit test.
    Scores are tie-aware quintiles: least(5, 1 + floor(5 × percent_rank)), ordered so that 5 is
    best (most recent, most orders, most revenue); tied values share a score
    (DECISIONS.md: RFM scores). -#}

{{ config(materialized='ephemeral') }}

with orders as (

    select * from {{ ref('int_customer_orders') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

customer_orders as (

    select
        orders.customer_id,
        max(orders.order_date) as last_order_date,
        cast(count(*) as bigint) as frequency,
        {{ comptoir.cents('sum(orders.revenue)') }} as monetary
    from orders
    cross join as_of
    where
        orders.is_sale
        and orders.customer_id is not null
        and orders.customer_id <> '{{ var("unknown_member_id") }}'
        and orders.order_date <= as_of.as_of_date
    group by orders.customer_id

),

measured as (

    select
        customers.customer_id,
        customers.customer_name,
        customers.country_name,
        customers.loyalty_tier,
        as_of.as_of_date,
        customer_orders.last_order_date,
        {{ dbt.datediff('customer_orders.last_order_date', 'as_of.as_of_date', 'day') }} as recency_days,
        customer_orders.frequency,
        customer_orders.monetary
    from customer_orders
    inner join customers
        on
            customer_orders.customer_id = customers.customer_id
            and not customers.is_unknown_member
    cross join as_of

),

scored as (

    select
        *,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc))) as integer) as r_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by frequency))) as integer) as f_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by monetary))) as integer) as m_score
    from measured

)

select * from scored
