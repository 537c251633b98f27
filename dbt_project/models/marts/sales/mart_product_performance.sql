{#- One row per product of dim_products (the 'UNKNOWN' member included), with its completed
    sales over the whole history; zeros for a product never sold (its prices stay null).
    revenue_rank and units_rank use rank() over all products: 1 = best, ties share a rank and
    the next rank is skipped. is_top_10: revenue_rank ≤ 10 among products with revenue
    (DECISIONS.md: Top products). -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

product_sales as (

    select
        product_id,
        sum(revenue) as revenue,
        sum(quantity) as units,
        count(distinct order_id) as orders,
        min(unit_price) as min_unit_price,
        max(unit_price) as max_unit_price,
        sum(case when has_cost then cost else 0 end) as cost,
        sum(case when has_cost then revenue else 0 end) as costed_revenue,
        sum(case when has_cost then margin else 0 end) as margin
    from order_lines
    where is_sale
    group by product_id

),

joined as (

    select
        products.product_id,
        products.product_name,
        products.category,
        products.brand,
        {{ comptoir.cents('coalesce(product_sales.revenue, 0)') }} as revenue,
        cast(coalesce(product_sales.units, 0) as bigint) as units,
        cast(coalesce(product_sales.orders, 0) as bigint) as orders,
        cast(product_sales.min_unit_price as {{ comptoir.money_type() }}) as min_unit_price,
        cast(product_sales.max_unit_price as {{ comptoir.money_type() }}) as max_unit_price,
        {{ comptoir.cents('coalesce(product_sales.cost, 0)') }} as cost,
        {{ comptoir.cents('coalesce(product_sales.costed_revenue, 0)') }} as costed_revenue,
        {{ comptoir.cents_margin('coalesce(product_sales.costed_revenue, 0)', 'coalesce(product_sales.cost, 0)') }} as margin
    from products
    left join product_sales on products.product_id = product_sales.product_id

),

ranked as (

    select
        *,
        rank() over (order by revenue desc) as revenue_rank,
        rank() over (order by units desc) as units_rank
    from joined

),

final as (

    select
        product_id,
        product_name,
        category,
        brand,
        revenue,
        units,
        orders,
        min_unit_price,
        max_unit_price,
        {{ comptoir.exact_money_ratio('revenue', 'units') }} as avg_unit_price,
        cost,
        costed_revenue,
        margin,
        {{ comptoir.exact_ratio('margin', 'costed_revenue') }} as margin_pct,
        cast(revenue_rank as bigint) as revenue_rank,
        cast(units_rank as bigint) as units_rank,
        revenue_rank <= 10 and revenue > 0 as is_top_10
    from ranked

)

select * from final
