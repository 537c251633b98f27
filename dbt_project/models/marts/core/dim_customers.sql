{#- One row per customer in customers.json, plus the explicit unknown member that order lines
    referring to a customer missing from the file link to. Order figures count completed sales.
    is_premium_customer: DECISIONS.md "Premium customers". -#}

with customers as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select * from {{ ref('int_customer_orders') }}
    where is_sale

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

order_summary as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as orders,
        cast(sum(revenue) as {{ comptoir.amount_type() }}) as lifetime_revenue
    from orders
    group by customer_id

),

known as (

    select
        customers.customer_id,
        customers.customer_name,
        customers.email,
        customers.has_valid_email,
        customers.city,
        customers.country_code,
        customers.country_name,
        customers.loyalty_tier,
        customers.registered_on,
        order_summary.first_order_date,
        order_summary.last_order_date,
        coalesce(order_summary.orders, 0) as orders,
        {{ comptoir.cents('coalesce(order_summary.lifetime_revenue, 0)') }} as lifetime_revenue,
        false as is_unknown_member
    from customers
    left join order_summary on customers.customer_id = order_summary.customer_id

),

unknown_member as (

    select
        '{{ var("unknown_member_id") }}' as customer_id,
        'Unknown customer' as customer_name,
        cast(null as {{ dbt.type_string() }}) as email,
        false as has_valid_email,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as country_code,
        'Unknown' as country_name,
        cast(null as {{ dbt.type_string() }}) as loyalty_tier,
        cast(null as date) as registered_on,
        -- an aggregate without group by: exactly one row, even when no order is unknown
        min(order_summary.first_order_date) as first_order_date,
        max(order_summary.last_order_date) as last_order_date,
        cast(coalesce(sum(order_summary.orders), 0) as bigint) as orders,
        {{ comptoir.cents('coalesce(sum(order_summary.lifetime_revenue), 0)') }} as lifetime_revenue,
        true as is_unknown_member
    from order_summary
    where order_summary.customer_id = '{{ var("unknown_member_id") }}'

),

unioned as (

    select * from known
    union all
    select * from unknown_member

)

select
    unioned.*,
    {{ comptoir.exact_money_ratio('unioned.lifetime_revenue', 'unioned.orders') }} as average_order_value,
    {{ dbt.datediff('unioned.registered_on', 'as_of.as_of_date', 'day') }} as tenure_days,
    {{ dbt.datediff('unioned.last_order_date', 'as_of.as_of_date', 'day') }} as days_since_last_order,
    not unioned.is_unknown_member and (
        unioned.lifetime_revenue >= {{ var('premium_lifetime_revenue') }}
        or unioned.loyalty_tier = 'platinum'
    ) as is_premium_customer
from unioned
cross join as_of
