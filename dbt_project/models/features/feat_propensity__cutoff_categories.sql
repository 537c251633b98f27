{#- The product categories (as slugs) with a sale line dated before each cutoff of feat_propensity__cutoffs, of any
    buyer (guests included): the share_<category_slug> columns a set of cutoffs gets are the categories sold
    before the latest of them, so a category first sold after every cutoff adds no (constant zero) column. -#}

with cutoffs as (

    select cutoff from {{ ref('feat_propensity__cutoffs') }}

),

first_sales as (

    select
        category,
        min(order_date) as first_sale_date
    from {{ ref('fct_order_lines') }}
    where is_sale
    group by category

),

category_slugs as (

    select
        category,
        category_slug
    from {{ ref('feat_category_slugs') }}

),

slug_first_sales as (

    select
        category_slugs.category_slug,
        min(first_sales.first_sale_date) as first_sale_date
    from first_sales
    inner join category_slugs on first_sales.category is not distinct from category_slugs.category
    group by category_slugs.category_slug

),

final as (

    select
        cutoffs.cutoff,
        slug_first_sales.category_slug
    from cutoffs
    inner join slug_first_sales on cutoffs.cutoff > slug_first_sales.first_sale_date

)

select * from final
