{#- Completed sales per order day × buyer's country × product, with the product's name, category and
    brand: the products dashboard's rankings, prices and counts over any date range, country and
    category. Incremental by order day (dbt_project.yml, macros/serving.sql). -#}

-- depends_on: {{ ref('base_shop__orders') }}, {{ ref('base_shop__customers') }}, {{ ref('base_shop__products') }}

{{ config(copies_products=true) }}

with

sale_lines as (

    {{ comptoir.serving_sale_lines() }}

),

final as (

    select
        order_date,
        country_code,
        country_name,
        product_id,
        product_name,
        category,
        brand,
        count(*) as sale_lines,
        cast(sum(quantity) as bigint) as units,
        sum(revenue) as revenue,
        sum(case when has_cost then revenue else 0 end) as costed_revenue,
        sum(case when has_cost then margin else 0 end) as margin,
        min(unit_price) as min_unit_price,
        max(unit_price) as max_unit_price,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from sale_lines
    group by order_date, country_code, country_name, product_id, product_name, category, brand

)

select * from final
order by order_date, country_name, product_id
