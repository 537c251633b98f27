{#- Each customer's spend per product category before a cutoff, as a share of their spend before it: one row per
    row of feat_propensity__customer_cutoffs (customer x cutoff) and category with a sale line before the cutoff.
    Lines, not orders: an order can mix categories. A category the customer never bought has no row (its share is
    0); a customer whose sales before the cutoff were all free gets 0 in every share. The ML code pivots this long
    table into one share_<category_slug> column per category of feat_propensity__cutoff_categories. -#}

with population as (

    select
        customer_id,
        cutoff
    from {{ ref('feat_propensity__customer_cutoffs') }}

),

sale_lines as (

    select
        customer_id,
        category,
        order_date,
        revenue
    from {{ ref('fct_order_lines') }}
    where is_sale

),

category_slugs as (

    select
        category,
        category_slug
    from {{ ref('feat_category_slugs') }}

),

category_revenue as (

    select
        population.customer_id,
        population.cutoff,
        category_slugs.category_slug,
        sum(sale_lines.revenue) as category_revenue
    from population
    inner join sale_lines
        on
            population.customer_id = sale_lines.customer_id
            and population.cutoff > sale_lines.order_date
    inner join category_slugs on sale_lines.category is not distinct from category_slugs.category
    group by population.customer_id, population.cutoff, category_slugs.category_slug

),

final as (

    select
        customer_id,
        cutoff,
        category_slug,
        cast(coalesce(
            category_revenue / nullif(sum(category_revenue) over (partition by customer_id, cutoff), 0), 0
        ) as double) as category_share
    from category_revenue

)

select * from final
