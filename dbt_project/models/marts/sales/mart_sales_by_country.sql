{#- One row per month of dim_date × buyer country: completed sales by the country of the buyer in
    dim_customers, zeros for a month without sales in the country. Guest orders and orders of
    customers missing from customers.json have no country: they are reported under country_name
    'Unknown' with a null country_code (DECISIONS.md: Sales by country). A customer whose exported
    country was not recognised keeps that spelling as country_name with a null code, as in
    dim_customers. Revenue follows each line's own customer, so an order whose lines name
    different customers counts once in each of their countries (DECISIONS.md: Customer of a sale). -#}

with customer_orders as (

    select * from {{ ref('int_customer_orders') }}

),

guest_lines as (

    select * from {{ ref('fct_order_lines') }}
    where customer_id is null

),

orders as (

    -- order × customer: the order's lines of one customer, from int_customer_orders (same
    -- definitions, a third of the rows of the lines), plus the guest lines of each order
    select
        order_id,
        customer_id,
        order_date,
        is_sale,
        revenue
    from customer_orders

    union all

    select
        order_id,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        min(order_date) as order_date,
        max(case when is_sale then 1 else 0 end) = 1 as is_sale,
        sum(case when is_sale then revenue else 0 end) as revenue
    from guest_lines
    group by order_id

),

customers as (

    select * from {{ ref('dim_customers') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

months as (

    select distinct month_start from calendar

),

countries as (

    select distinct
        country_code,
        country_name
    from customers
    where not is_unknown_member and country_name is not null and country_name <> 'Unknown'

    union all

    select
        cast(null as {{ dbt.type_string() }}) as country_code,
        'Unknown' as country_name

),

sale_orders as (

    select
        calendar.month_start,
        orders.order_id,
        orders.customer_id,
        orders.customer_id is not null
        and orders.customer_id <> '{{ var("unknown_member_id") }}' as is_known_customer,
        orders.revenue,
        case
            when customers.is_unknown_member or customers.country_name is null then 'Unknown'
            else customers.country_name
        end as country_name
    from orders
    inner join calendar on orders.order_date = calendar.date_day
    left join customers on orders.customer_id = customers.customer_id
    where orders.is_sale

),

country_sales as (

    select
        month_start,
        country_name,
        count(distinct order_id) as orders,
        count(distinct case when is_known_customer then customer_id end) as customers,
        sum(revenue) as revenue
    from sale_orders
    group by month_start, country_name

),

grid as (

    select
        months.month_start,
        countries.country_code,
        countries.country_name
    from months
    cross join countries

),

final as (

    select
        grid.month_start,
        grid.country_code,
        grid.country_name,
        {{ comptoir.cents('coalesce(country_sales.revenue, 0)') }} as revenue,
        cast(coalesce(country_sales.customers, 0) as bigint) as customers,
        cast(coalesce(country_sales.orders, 0) as bigint) as orders,
        {{ comptoir.exact_money_ratio(comptoir.cents('country_sales.revenue'), 'country_sales.orders') }}
            as average_order_value
    from grid
    left join country_sales
        on
            grid.month_start = country_sales.month_start
            and grid.country_name = country_sales.country_name

)

select * from final
