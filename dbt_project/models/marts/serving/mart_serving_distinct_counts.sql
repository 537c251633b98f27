{#- Distinct orders and customers of completed sales as sums (DECISIONS.md "Distinct counts as sums").

    A distinct count over a date range is a count of first appearances: an order (or a customer) counts once
    in [start, end] through its first row on or after start, the one whose previous appearance (its
    previous order day in the same scope) is before start. So each row here is a number of (order or
    customer, day) appearances that share a day, a country, a category scope and a previous day, and

        orders in [start, end] = sum(appearances)
            where order_date between start and end and (previous_day is null or previous_day < start)

    is exact for any range, with the country filter reading previous_day_in_country and the category
    filter the category's own rows (category is null on the rows of all categories together). Orders
    almost never span days, so their previous days are nearly all null and their rows few; customers
    are counted for known customers only, as everywhere else.

    Incremental: a day's rows depend on that day and the days before it only, so a build recomputes the rows
    from the first touched day on (the days macros/serving.sql's serving_touched_days names: a new day of data
    touches that day) and keeps the earlier ones. The appearances from that day on get their previous days
    from each counted thing's last earlier day, overall and per country, read for the things seen since. -#}

-- depends_on: {{ ref('fct_order_lines') }}, {{ ref('base_shop__orders') }}, {{ ref('base_shop__customers') }}

{%- set since = comptoir.serving_first_touched_day() %}
{#- an incremental run counts the days from `since` on, or none when nothing changed; a full build every day -#}
{%- set recomputed_days = 'order_date >= ' ~ since if since else ('false' if is_incremental() else 'true') %}

{{ config(
    materialized='incremental',
    incremental_strategy='append',
    unique_key=none,
    pre_hook="{{ comptoir.delete_serving_days_since_first_touched() }}"
) }}

with

days_to_count as (

    {{ comptoir.serving_scoped_days(ref('mart_serving_sale_orders'), recomputed_days) }}

),

{% if since %}
-- The last day before the recomputed ones of each order and customer seen since, per country (the latest of
-- them is the last day overall): the previous day of their first appearance from `since` on.
earlier_days as (

    {{ comptoir.serving_scoped_days(ref('mart_serving_sale_orders'), 'order_date < ' ~ since) }}

),

last_earlier_days as (

    select
        earlier_days.measure,
        earlier_days.counted_id,
        earlier_days.category,
        max(earlier_days.order_date) as order_date,
        earlier_days.country_code,
        earlier_days.country_name
    from earlier_days
    inner join (select distinct measure, counted_id, category from days_to_count) as seen
        on earlier_days.measure = seen.measure
        and earlier_days.counted_id = seen.counted_id
        and earlier_days.category is not distinct from seen.category
    group by
        earlier_days.measure, earlier_days.counted_id, earlier_days.category, earlier_days.country_code,
        earlier_days.country_name

),
{% endif %}

scoped_days as (

    select
        *,
        false as is_earlier
    from days_to_count
    {%- if since %}
    union all
    select
        *,
        true as is_earlier
    from last_earlier_days
    {%- endif %}

),

appearances as (

    select
        measure,
        order_date,
        country_code,
        country_name,
        category,
        is_earlier,
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
    where not is_earlier
    group by measure, order_date, country_code, country_name, category, previous_day, previous_day_in_country

)

select * from final
order by measure, order_date, country_name, category
