{#- One row per day of dim_date × category of dim_products: completed sales of that category that
    day, zeros on days without any (a dense grid for charts). A day's orders count the distinct
    sale orders with a completed line in the category, so an order spanning two categories
    counts once in each: orders do not add up across categories (revenue, units, cost do). -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

categories as (

    select distinct category from products

),

grid as (

    select
        calendar.date_day,
        categories.category
    from calendar
    cross join categories

),

daily_sales as (

    select
        order_date as date_day,
        category,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(revenue) as revenue,
        sum(case when has_cost then cost else 0 end) as cost,
        sum(case when has_cost then revenue else 0 end) as costed_revenue,
        sum(case when has_cost then margin else 0 end) as margin
    from order_lines
    where is_sale
    group by order_date, category

),

filled as (

    select
        grid.date_day,
        grid.category,
        cast(coalesce(daily_sales.orders, 0) as bigint) as orders,
        cast(coalesce(daily_sales.units, 0) as bigint) as units,
        cast(coalesce(daily_sales.revenue, 0) as decimal(18, 2)) as revenue,
        cast(coalesce(daily_sales.cost, 0) as decimal(18, 2)) as cost,
        cast(coalesce(daily_sales.costed_revenue, 0) as decimal(18, 2)) as costed_revenue,
        cast(coalesce(daily_sales.margin, 0) as decimal(18, 2)) as margin
    from grid
    left join daily_sales
        on
            grid.date_day = daily_sales.date_day
            and grid.category = daily_sales.category

),

final as (

    select
        date_day,
        category,
        orders,
        units,
        revenue,
        cost,
        costed_revenue,
        margin,
        {{ comptoir.exact_ratio('margin', 'costed_revenue') }} as margin_pct,
        {{ comptoir.exact_money_ratio('revenue', 'orders') }} as average_order_value
    from filled

)

select * from final
