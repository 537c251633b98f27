{#- One row per month of dim_date: completed sales of the month, zeros for a month without any.
    Built from fct_orders (an order has one date, so every order falls in exactly one month).
    customers counts distinct known customers (guests and the unknown member excluded) and
    new_customers those whose first sale order falls in the month, both from int_customer_sale_months
    (DECISIONS.md: Customer of a sale). -#}

with orders as (

    select * from {{ ref('fct_orders') }}

),

customer_months as (

    select * from {{ ref('int_customer_sale_months') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

months as (

    select distinct month_start from calendar

),

sale_orders as (

    select
        calendar.month_start,
        orders.order_id,
        orders.is_guest,
        orders.units,
        orders.revenue,
        orders.cost,
        orders.costed_revenue,
        orders.margin
    from orders
    inner join calendar on orders.order_date = calendar.date_day
    where orders.is_sale

),

monthly_customers as (

    select
        customer_months.month_start,
        count(*) as customers,
        sum(case when customer_months.is_first_sale_month then 1 else 0 end) as new_customers
    from customer_months
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
        sum(coalesce(margin, 0)) as margin,
        sum(case when is_guest then 1 else 0 end) as guest_orders,
        sum(case when is_guest then revenue else 0 end) as guest_revenue
    from sale_orders
    group by month_start

),

filled as (

    select
        months.month_start,
        cast(coalesce(monthly_sales.orders, 0) as bigint) as orders,
        cast(coalesce(monthly_sales.units, 0) as bigint) as units,
        {{ comptoir.cents('coalesce(monthly_sales.revenue, 0)') }} as revenue,
        {{ comptoir.cents('coalesce(monthly_sales.cost, 0)') }} as cost,
        {{ comptoir.cents('coalesce(monthly_sales.costed_revenue, 0)') }} as costed_revenue,
        {{ comptoir.cents_margin('coalesce(monthly_sales.costed_revenue, 0)', 'coalesce(monthly_sales.cost, 0)') }} as margin,
        cast(coalesce(monthly_customers.customers, 0) as bigint) as customers,
        cast(coalesce(monthly_customers.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(monthly_sales.guest_orders, 0) as bigint) as guest_orders,
        {{ comptoir.cents('coalesce(monthly_sales.guest_revenue, 0)') }} as guest_revenue
    from months
    left join monthly_sales on months.month_start = monthly_sales.month_start
    left join monthly_customers on months.month_start = monthly_customers.month_start

),

final as (

    select
        month_start,
        orders,
        units,
        revenue,
        cost,
        costed_revenue,
        margin,
        {{ comptoir.exact_ratio('margin', 'costed_revenue') }} as margin_pct,
        {{ comptoir.exact_money_ratio('revenue', 'orders') }} as average_order_value,
        customers,
        new_customers,
        guest_orders,
        guest_revenue
    from filled

)

select * from final
