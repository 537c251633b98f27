{#- Grain: one row per segmented customer (feat_segments__customer_behaviour) × product category with a completed
    line on or before the as-of date, by anyone (zeros included, so every such category is present even when no
    segmented customer bought it). revenue_share is the category's part of the customer's completed-line revenue
    up to the as-of date (lines, not orders: an order can mix categories). The 'unknown' slug (lines of unknown
    products) has no row, but its revenue stays in the denominator, so a customer's shares sum to at most 1; a
    customer whose sales are all zero-priced gets 0s. Long rather than one column per category: the columns
    would follow the data, which no engine's table schema does well; ml/segments pivots it. -#}

with as_of as (

    select as_of_date from {{ ref('feat_as_of_date') }}

),

customers as (

    select customer_id from {{ ref('feat_segments__customer_behaviour') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

category_slugs as (

    select * from {{ ref('feat_category_slugs') }}

),

sale_lines as (

    select
        order_lines.customer_id,
        order_lines.category,
        order_lines.revenue
    from order_lines
    cross join as_of
    where order_lines.is_sale and order_lines.order_date <= as_of.as_of_date

),

sold_categories as (

    -- the categories sold by the as-of date to anyone, named by slug (the smallest name when two share one)
    select
        category_slugs.category_slug,
        min(category_slugs.category) as category
    from (select distinct category from sale_lines) as sold
    inner join category_slugs on sold.category is not distinct from category_slugs.category
    where category_slugs.category_slug <> 'unknown'
    group by category_slugs.category_slug

),

customer_lines as (

    select
        sale_lines.customer_id,
        category_slugs.category_slug,
        sale_lines.revenue
    from sale_lines
    inner join customers on sale_lines.customer_id = customers.customer_id
    inner join category_slugs on sale_lines.category is not distinct from category_slugs.category

),

customer_revenue as (

    select
        customer_id,
        sum(revenue) as sale_revenue
    from customer_lines
    group by customer_id

),

category_revenue as (

    select
        customer_id,
        category_slug,
        sum(revenue) as category_revenue
    from customer_lines
    group by customer_id, category_slug

),

final as (

    select
        customer_revenue.customer_id,
        sold_categories.category_slug,
        sold_categories.category,
        coalesce(
            cast(category_revenue.category_revenue as double) / nullif(cast(customer_revenue.sale_revenue as double), 0),
            0
        ) as revenue_share
    from customer_revenue
    cross join sold_categories
    left join category_revenue
        on
            customer_revenue.customer_id = category_revenue.customer_id
            and sold_categories.category_slug = category_revenue.category_slug

)

select * from final
