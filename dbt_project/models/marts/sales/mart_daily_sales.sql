{#- One row per day of dim_date × category of dim_products: completed sales of that category that
    day, zeros on days without any (a dense grid for charts). A day's orders count the distinct
    sale orders with a completed line in the category, so an order spanning two categories
    counts once in each: orders do not add up across categories (revenue, units, cost do).

    Incremental (DECISIONS.md "Incremental builds"): the days touched since this table's last refresh
    are computed again and replace their rows: the days of refreshed order lines and of the earlier
    versions they replaced, days new to dim_date, and every day when the set of categories changed;
    a post-hook removes days no longer in dim_date. -#}

-- depends_on: {{ ref('base_shop__orders') }}

{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='date_day',
    post_hook="{% if is_incremental() %}delete from {{ this }}
        where date_day not in (select date_day from {{ ref('dim_date') }}){% endif %}",
    on_schema_change='fail',
) }}

{% if is_incremental() %}
    {%- set watermark = comptoir.max_timestamp_literal(this, 'refreshed_at') -%}
{% endif %}

with calendar as (

    select * from {{ ref('dim_date') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

categories as (

    select distinct category from products

),

{% if is_incremental() %}
    built_categories as (

        select distinct category from {{ this }}

    ),

    touched_days as (

        -- a category appeared or disappeared: every day has a row more or less
        select calendar.date_day from calendar
        where exists (
            (select category from categories except select category from built_categories)
            union all
            (select category from built_categories except select category from categories)
        )

        union

        select date_day from calendar
        where date_day not in (select date_day from {{ this }})

        union

        select order_date from {{ ref('fct_order_lines') }}
        where refreshed_at > {{ watermark }}

        union

        -- the days of the versions a corrected line replaced
        select cast(ordered_at as date) from {{ ref('base_shop__orders') }}
        where refreshed_at > {{ watermark }} and ordered_at is not null

    ),
{% endif %}

order_lines as (

    select * from {{ ref('fct_order_lines') }}
    {% if is_incremental() %}
        where order_date in (select touched_days.date_day from touched_days)
    {% endif %}

),

grid as (

    select
        calendar.date_day,
        categories.category
    from calendar
    cross join categories
    {% if is_incremental() %}
        where calendar.date_day in (select touched_days.date_day from touched_days)
    {% endif %}

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
        {{ comptoir.cents('coalesce(daily_sales.revenue, 0)') }} as revenue,
        {{ comptoir.cents('coalesce(daily_sales.cost, 0)') }} as cost,
        {{ comptoir.cents('coalesce(daily_sales.costed_revenue, 0)') }} as costed_revenue,
        {{ comptoir.cents_margin('coalesce(daily_sales.costed_revenue, 0)', 'coalesce(daily_sales.cost, 0)') }} as margin
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
        {{ comptoir.exact_money_ratio('revenue', 'orders') }} as average_order_value,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from filled

)

select * from final
