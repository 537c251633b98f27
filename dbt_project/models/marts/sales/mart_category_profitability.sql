{#- One row per category of dim_products ('Unknown' for products missing from the catalogue),
    over the whole history. Money, units and orders count completed lines; cancellation_rate and
    return_rate count the category's order lines of every status, with the same definitions as
    mart_kpis. orders counts distinct sale orders with a completed line in the category, so an
    order spanning two categories counts in both. revenue_share = revenue ÷ total revenue. -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

categories as (

    select distinct category from products

),

category_lines as (

    select
        category,
        sum(case when is_sale then revenue else 0 end) as revenue,
        sum(case when is_sale and has_cost then cost else 0 end) as cost,
        sum(case when is_sale and has_cost then revenue else 0 end) as costed_revenue,
        sum(case when is_sale and has_cost then margin else 0 end) as margin,
        sum(case when is_sale then quantity else 0 end) as units,
        count(distinct case when is_sale then order_id end) as orders,
        count(distinct case when is_sale then product_id end) as products,
        count(*) as order_lines,
        sum(case when is_sale then 1 else 0 end) as completed_lines,
        sum(case when is_cancelled then 1 else 0 end) as cancelled_lines,
        sum(case when is_returned then 1 else 0 end) as returned_lines
    from order_lines
    group by category

),

filled as (

    select
        categories.category,
        {{ comptoir.cents('coalesce(category_lines.revenue, 0)') }} as revenue,
        {{ comptoir.cents('coalesce(category_lines.cost, 0)') }} as cost,
        {{ comptoir.cents('coalesce(category_lines.costed_revenue, 0)') }} as costed_revenue,
        {{ comptoir.cents_margin('coalesce(category_lines.costed_revenue, 0)', 'coalesce(category_lines.cost, 0)') }} as margin,
        cast(coalesce(category_lines.units, 0) as bigint) as units,
        cast(coalesce(category_lines.orders, 0) as bigint) as orders,
        cast(coalesce(category_lines.products, 0) as bigint) as products,
        cast(coalesce(category_lines.order_lines, 0) as bigint) as order_lines,
        cast(coalesce(category_lines.completed_lines, 0) as bigint) as completed_lines,
        cast(coalesce(category_lines.cancelled_lines, 0) as bigint) as cancelled_lines,
        cast(coalesce(category_lines.returned_lines, 0) as bigint) as returned_lines
    from categories
    left join category_lines on categories.category = category_lines.category

),

final as (

    select
        category,
        revenue,
        cost,
        costed_revenue,
        margin,
        {{ comptoir.exact_ratio('margin', 'costed_revenue') }} as margin_pct,
        units,
        orders,
        products,
        {{ comptoir.exact_ratio('revenue', 'sum(revenue) over ()') }} as revenue_share,
        order_lines,
        completed_lines,
        cancelled_lines,
        returned_lines,
        {{ comptoir.exact_ratio('cancelled_lines', 'order_lines') }} as cancellation_rate,
        {{ comptoir.exact_ratio('returned_lines', 'completed_lines + returned_lines') }} as return_rate
    from filled

)

select * from final
