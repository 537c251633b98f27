{#- Distinct orders and customers of completed sales as sums (DECISIONS.md "Distinct counts as sums").

    A distinct count over a date range is a count of first appearances: an order (or a customer) counts once
    in [start, end] through its first row on or after start, the one whose previous appearance (its
    previous order day in the same scope) is before start. So each row here is a number of (order or
    customer, day) appearances that share a day, a country, a category scope and a previous day, and

        orders in [start, end] = sum(appearances)
            where order_date between start and end and coalesce(previous_day, '0001-01-01') < start

    is exact for any range, with the country filter reading previous_day_in_country and the category
    filter the category's own rows (category is null on the rows of all categories together). Orders
    almost never span days, so their previous days are nearly all null and their rows few; customers
    are counted for known customers only, as everywhere else.

    A table rebuilt from mart_serving_sale_orders on each build: an appearance's previous day can change
    with any later day's data. -#}

{{ config(materialized='table', pre_hook=[], unique_key=none, incremental_strategy=none) }}

with

sale_orders as (

    select
        order_id,
        category,
        order_date,
        customer_id,
        is_known_customer,
        country_code,
        country_name
    from {{ ref('mart_serving_sale_orders') }}

),

-- Each order's and each known customer's days in each category scope: all categories together (category null),
-- and each category. A customer has one country (dim_customers'), so its appearances in a country are all of them.
-- One `select distinct` per scope (a cross join with the scopes made four copies of every row first: twice as slow).
scoped_days as (
{% for measure, counted_id, per_category in [
    ('orders', 'order_id', false), ('orders', 'order_id', true),
    ('customers', 'customer_id', false), ('customers', 'customer_id', true)] %}
    {% if not loop.first %}union all{% endif %}
    select distinct
        '{{ measure }}' as measure,
        {{ counted_id }} as counted_id,
        {{ 'category' if per_category else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as category,
        order_date,
        country_code,
        country_name
    from sale_orders
    {%- if measure == 'customers' %}
    where is_known_customer
    {%- endif %}
{% endfor %}
),

appearances as (

    select
        measure,
        order_date,
        country_code,
        country_name,
        category,
        lag(order_date) over (
            partition by measure, counted_id, category order by order_date, country_name
        ) as previous_day,
        lag(order_date) over (
            partition by measure, counted_id, category, country_name order by order_date
        ) as previous_day_in_country
    from scoped_days

),

final as (

    select
        measure,
        order_date,
        country_code,
        country_name,
        category,
        previous_day,
        previous_day_in_country,
        cast(count(*) as bigint) as appearances,
        {{ comptoir.batch_started_at() }} as refreshed_at
    from appearances
    group by measure, order_date, country_code, country_name, category, previous_day, previous_day_in_country

)

select * from final
order by measure, order_date, country_name, category
