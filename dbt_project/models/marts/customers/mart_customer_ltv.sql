{#- One row per known customer with at least one sale order up to the as-of date: historical
    customer lifetime value, and the per-customer summary a BG/NBD + Gamma-Gamma model needs
    (lifetimes' summary_data_from_transaction_data, in days). DECISIONS.md: Historical CLV,
    Probabilistic CLV summary. -#}

{#- Bounds of the expected lifespan, and the value used when the churn rate cannot be measured
    (no customer bought in the year before last). -#}
{%- set min_lifespan_years = 1 -%}
{%- set max_lifespan_years = 10 -%}
{%- set default_lifespan_years = 3 -%}
{%- set min_observed_days = 30 -%}

with orders as (

    select * from {{ ref('int_customer_orders') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

customer_sale_orders as (

    select
        orders.customer_id,
        orders.order_date,
        orders.revenue,
        {{ dbt.datediff('orders.order_date', 'as_of.as_of_date', 'day') }} as days_before_as_of
    from orders
    cross join as_of
    where
        orders.is_sale
        and orders.customer_id is not null
        and orders.customer_id <> '{{ var("unknown_member_id") }}'
        and orders.order_date <= as_of.as_of_date

),

-- Historical CLV --------------------------------------------------------------------------

customer_orders as (

    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        cast(count(*) as bigint) as orders,
        cast(sum(revenue) as {{ comptoir.amount_type() }}) as lifetime_revenue,
        -- active in the 365 days ending 365 days before the as-of date, and in the last 365 days
        max(case when days_before_as_of between 365 and 729 then 1 else 0 end) = 1 as bought_in_prior_year,
        max(case when days_before_as_of between 0 and 364 then 1 else 0 end) = 1 as bought_in_last_year
    from customer_sale_orders
    group by customer_id

),

churn as (

    select
        count(case when bought_in_prior_year then 1 end) as prior_year_customers,
        count(case when bought_in_prior_year and not bought_in_last_year then 1 end) as churned_customers
    from customer_orders

),

lifespan as (

    select
        case
            when prior_year_customers > 0 then 1.0 * churned_customers / prior_year_customers
        end as annual_churn_rate,
        case
            when prior_year_customers = 0 then {{ default_lifespan_years }}
            when churned_customers = 0 then {{ max_lifespan_years }}
            else least(
                {{ max_lifespan_years }},
                greatest({{ min_lifespan_years }}, 1.0 * prior_year_customers / churned_customers)
            )
        end as expected_lifespan_years
    from churn

),

-- Probabilistic summary: purchases aggregated per customer and calendar day ---------------

purchase_days as (

    select
        customer_id,
        order_date as purchase_date,
        sum(revenue) as day_revenue,
        row_number() over (partition by customer_id order by order_date) as purchase_day_number
    from customer_sale_orders
    group by customer_id, order_date

),

purchase_summary as (

    select
        customer_id,
        cast(count(*) - 1 as bigint) as frequency,
        max(purchase_date) as last_purchase_date,
        min(purchase_date) as first_purchase_date,
        sum(case when purchase_day_number > 1 then day_revenue end) as repeat_revenue
    from purchase_days
    group by customer_id

),

joined as (

    select
        customers.customer_id,
        customers.customer_name,
        customers.country_name,
        customers.loyalty_tier,
        as_of.as_of_date,
        customer_orders.first_order_date,
        customer_orders.last_order_date,
        customer_orders.orders,
        customer_orders.lifetime_revenue,
        greatest(
            {{ dbt.datediff('customer_orders.first_order_date', 'as_of.as_of_date', 'day') }} + 1,
            {{ min_observed_days }}
        ) as observed_days,
        lifespan.annual_churn_rate,
        lifespan.expected_lifespan_years,
        purchase_summary.frequency,
        {{ dbt.datediff('purchase_summary.first_purchase_date', 'purchase_summary.last_purchase_date', 'day') }}
            as recency,
        {{ dbt.datediff('purchase_summary.first_purchase_date', 'as_of.as_of_date', 'day') }} as t,
        purchase_summary.repeat_revenue
    from customer_orders
    inner join customers
        on
            customer_orders.customer_id = customers.customer_id
            and not customers.is_unknown_member
    inner join purchase_summary on customer_orders.customer_id = purchase_summary.customer_id
    cross join as_of
    cross join lifespan

),

final as (

    select
        customer_id,
        customer_name,
        country_name,
        loyalty_tier,
        as_of_date,
        first_order_date,
        last_order_date,
        orders,
        {{ comptoir.cents('lifetime_revenue') }} as lifetime_revenue,
        {{ comptoir.exact_money_ratio('lifetime_revenue', 'orders') }} as average_order_value,
        cast(observed_days / 365.25 as double) as observed_years,
        cast(orders / (observed_days / 365.25) as double) as purchase_frequency_per_year,
        cast(annual_churn_rate as double) as annual_churn_rate,
        cast(expected_lifespan_years as double) as expected_lifespan_years,
        -- average_order_value × purchase_frequency_per_year × expected_lifespan_years, from the
        -- unrounded factors (= lifetime_revenue ÷ observed_years × lifespan), rounded once
        {{ comptoir.cents('lifetime_revenue / (observed_days / 365.25) * expected_lifespan_years') }} as historical_clv,
        frequency,
        recency,
        t,
        {{ comptoir.cents('case when frequency > 0 then repeat_revenue / frequency else 0 end') }} as monetary_value
    from joined

)

select * from final
