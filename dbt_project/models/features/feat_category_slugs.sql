{#- Every product category seen on an order line, with the slug the ML code names its per-category columns by. -#}

with categories as (

    select distinct category
    from {{ ref('fct_order_lines') }}

),

renamed as (

    select
        category,
        {{ comptoir.category_slug('category') }} as category_slug
    from categories

)

select * from renamed
