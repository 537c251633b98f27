{#- Point-in-time features of the purchase-propensity model: one row per known customer registered on or before
    a cutoff of feat_propensity__cutoffs, reading only events dated strictly before the cutoff (windows are
    [cutoff - N days, cutoff)). Training rows are a hash sample when there are more than
    propensity_max_training_rows of them (DECISIONS.md "Propensity training sample"); the evaluation and scoring
    cutoffs keep every customer. Per-category spend shares are in feat_propensity__category_shares. -#}

{%- set order_windows_days = [30, 90, 365] -%}
{%- set email_window_days = 90 -%}
{%- set web_windows_days = [30, 90] -%}

with cutoffs as (

    select
        cutoff,
        cutoff_role,
        max_training_rows
    from {{ ref('feat_propensity__cutoffs') }}

),

customers as (

    select
        customer_id,
        registered_on,
        loyalty_tier,
        country_code
    from {{ ref('dim_customers') }}
    where not is_unknown_member

),

sale_orders as (

    select
        customer_id,
        order_date,
        revenue
    from {{ ref('int_customer_orders') }}
    where is_sale

),

email_events as (

    select
        customer_id,
        campaign_id,
        event_type,
        event_date
    from {{ ref('stg_shop__email_events') }}

),

web_sessions as (

    select
        customer_id,
        session_date
    from {{ ref('stg_shop__web_sessions') }}

),

-- Population: customers without registered_on have no tenure and are left out. ------------------------------

population_all as (

    select
        customers.customer_id,
        cutoffs.cutoff,
        cutoffs.cutoff_role,
        cutoffs.max_training_rows,
        customers.registered_on,
        customers.loyalty_tier,
        customers.country_code
    from customers
    inner join cutoffs on customers.registered_on <= cutoffs.cutoff

),

training_size as (

    select count(*) as training_rows
    from population_all
    where cutoff_role = 'training'

),

population as (

    -- Above the cap, each training row is kept with probability cap / rows, drawn from a hash of its key: the same
    -- rows on every build of the same data, and uniform, so calibration still sees the true buyer rate.
    select population_all.*
    from population_all
    cross join training_size
    where
        population_all.cutoff_role <> 'training'
        or training_size.training_rows <= population_all.max_training_rows
        or {{ comptoir.hash_fraction(dbt.concat([
            'population_all.customer_id', "'|'", dbt.cast('population_all.cutoff', dbt.type_string())
        ])) }} < 1.0 * population_all.max_training_rows / training_size.training_rows

),

-- Features ---------------------------------------------------------------------------------------------------

orders as (

    select
        population.customer_id,
        population.cutoff,
        max(sale_orders.order_date) as last_order_date,
        count(*) as lifetime_orders,
        sum(sale_orders.revenue) as lifetime_revenue,
        {%- for days in order_windows_days %}
            cast(sum(case
                when {{ dbt.datediff('sale_orders.order_date', 'population.cutoff', 'day') }} <= {{ days }} then 1
                else 0
            end) as {{ dbt.type_bigint() }}) as orders_{{ days }}d,
        {%- endfor %}
        {%- for days in order_windows_days %}
            sum(case
                when {{ dbt.datediff('sale_orders.order_date', 'population.cutoff', 'day') }} <= {{ days }}
                    then sale_orders.revenue
            end) as revenue_{{ days }}d{% if not loop.last %},{% endif %}
        {%- endfor %}
    from population
    inner join sale_orders
        on
            population.customer_id = sale_orders.customer_id
            and population.cutoff > sale_orders.order_date
    group by population.customer_id, population.cutoff

),

email_campaigns as (

    -- One row per customer, cutoff and campaign: when it was sent and whether it was opened or clicked (a click
    -- implies an open) by the cutoff.
    select
        population.customer_id,
        population.cutoff,
        email_events.campaign_id,
        min(case when email_events.event_type = 'sent' then email_events.event_date end) as sent_on,
        max(case when email_events.event_type in ('opened', 'clicked') then 1 else 0 end) as is_opened,
        max(case when email_events.event_type = 'clicked' then 1 else 0 end) as is_clicked,
        max(email_events.event_date) as last_event_date
    from population
    inner join email_events
        on
            population.customer_id = email_events.customer_id
            and population.cutoff > email_events.event_date
    group by population.customer_id, population.cutoff, email_events.campaign_id

),

emails as (

    -- Opens and clicks count for the e-mails sent in the window, so opened <= sent and clicked <= opened.
    select
        customer_id,
        cutoff,
        max(last_event_date) as last_contact_date,
        cast(sum(case when sent_in_window then 1 else 0 end) as {{ dbt.type_bigint() }}) as sent,
        cast(sum(case when sent_in_window then is_opened else 0 end) as {{ dbt.type_bigint() }}) as opened,
        cast(sum(case when sent_in_window then is_clicked else 0 end) as {{ dbt.type_bigint() }}) as clicked
    from (
        select
            *,
            coalesce({{ dbt.datediff('sent_on', 'cutoff', 'day') }} <= {{ email_window_days }}, false)
                as sent_in_window
        from email_campaigns
    ) as campaigns
    group by customer_id, cutoff

),

web as (

    select
        population.customer_id,
        population.cutoff,
        {%- for days in web_windows_days %}
            cast(sum(case
                when {{ dbt.datediff('web_sessions.session_date', 'population.cutoff', 'day') }} <= {{ days }} then 1
                else 0
            end) as {{ dbt.type_bigint() }}) as web_visits_{{ days }}d{% if not loop.last %},{% endif %}
        {%- endfor %}
    from population
    inner join web_sessions
        on
            population.customer_id = web_sessions.customer_id
            and population.cutoff > web_sessions.session_date
            and {{ dbt.datediff('web_sessions.session_date', 'population.cutoff', 'day') }}
            <= {{ web_windows_days | max }}
    group by population.customer_id, population.cutoff

),

final as (

    select
        population.customer_id,
        population.cutoff,
        {{ dbt.datediff('orders.last_order_date', 'population.cutoff', 'day') }} as days_since_last_order,
        {%- for days in order_windows_days %}
            coalesce(orders.orders_{{ days }}d, 0) as orders_{{ days }}d,
        {%- endfor %}
        {%- for days in order_windows_days %}
            cast(coalesce(orders.revenue_{{ days }}d, 0) as double) as revenue_{{ days }}d,
        {%- endfor %}
        {{ dbt.datediff('population.registered_on', 'population.cutoff', 'day') }} as tenure_days,
        cast(orders.lifetime_revenue / orders.lifetime_orders as double) as average_order_value,
        {{ dbt.datediff('emails.last_contact_date', 'population.cutoff', 'day') }} as days_since_last_contact,
        coalesce(emails.sent, 0) as emails_sent_{{ email_window_days }}d,
        coalesce(emails.opened, 0) as emails_opened_{{ email_window_days }}d,
        coalesce(emails.clicked, 0) as emails_clicked_{{ email_window_days }}d,
        cast(emails.opened as double) / nullif(emails.sent, 0) as open_rate_{{ email_window_days }}d,
        {%- for days in web_windows_days %}
            coalesce(web.web_visits_{{ days }}d, 0) as web_visits_{{ days }}d,
        {%- endfor %}
        population.loyalty_tier,
        population.country_code
    from population
    left join orders
        on population.customer_id = orders.customer_id and population.cutoff = orders.cutoff
    left join emails
        on population.customer_id = emails.customer_id and population.cutoff = emails.cutoff
    left join web
        on population.customer_id = web.customer_id and population.cutoff = web.cutoff

)

select * from final
