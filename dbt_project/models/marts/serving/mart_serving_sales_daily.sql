{#- Completed sales per order day × buyer's country × category: the sums (revenue, units, cost,
    margin) that the dashboards' sales charts and the API add up over any date range, country and
    category, a few thousand rows where the order lines are millions. Distinct orders and customers
    do not add up across days or categories: they come from mart_serving_sale_orders.
    Incremental by order day (dbt_project.yml, macros/serving.sql). -#}

-- depends_on: {{ ref('base_shop__orders') }}, {{ ref('base_shop__customers') }}

with

sale_lines as (

    {{ comptoir.serving_sale_lines() }}

),

final as (

    select
        order_date,
        country_code,
        country_name,
        category,
        count(*) as sale_lines,
        cast(sum(quantity) as bigint) as units,
        sum(revenue) as revenue,
        sum(case when has_cost then revenue else 0 end) as costed_revenue,
        sum(case when has_cost then cost else 0 end) as cost,
        sum(case when has_cost then margin else 0 end) as margin,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from sale_lines
    group by order_date, country_code, country_name, category

)

select * from final
order by order_date, country_name, category
