{#- The cutoffs the purchase-propensity model is trained, evaluated and scored at (DECISIONS.md "Propensity
    cutoff plan"): the label window H follows the shop's rhythm (median days between a customer's consecutive
    sale orders, rounded up to whole 30-day steps, 30 to 180 days; DECISIONS.md "Label window follows the shop's
    rhythm"), shortened by 30 days at a time until the history holds two training windows. With H chosen:
    evaluation cutoff E = as_of - H + 1 (labels [E, E + H) end on the as-of date), training cutoffs E - k H for
    k = 1 .. propensity_max_training_cutoffs after the first sale, scoring cutoff as_of + 1. -#}

{%- set step_days = 30 -%}
{%- set min_horizon_days = 30 -%}
{%- set max_horizon_days = 180 -%}
{%- set fixed_horizon_days = var('propensity_horizon_days') -%}
{%- set max_training_cutoffs = var('propensity_max_training_cutoffs') | int -%}

with as_of as (

    select as_of_date from {{ ref('feat_as_of_date') }}

),

sale_orders as (

    select
        customer_id,
        order_date,
        is_unknown_customer
    from {{ ref('int_customer_orders') }}
    where is_sale

),

first_sale as (

    -- Every sale order, the UNKNOWN member's included: the history starts with the shop's first sale.
    select min(order_date) as first_order_date
    from sale_orders

),

previous_orders as (

    select
        order_date,
        lag(order_date) over (partition by customer_id order by order_date) as previous_order_date
    from sale_orders
    where not is_unknown_customer  -- the UNKNOWN member is many customers: no rhythm of its own

),

rhythm as (

    select
        {{ comptoir.median(dbt.datediff('previous_order_date', 'order_date', 'day')) }} as median_gap_days
    from previous_orders
    where previous_order_date is not null

),

rhythm_horizon as (

    select
        median_gap_days,
        {% if fixed_horizon_days is not none -%}
            {{ fixed_horizon_days | int }}
        {%- else -%}
            -- No customer reordered yet: the shortest window.
            coalesce(
                least(
                    {{ max_horizon_days }},
                    greatest(
                        {{ min_horizon_days }},
                        {{ step_days }} * cast(ceil(greatest(median_gap_days, 1.0) / {{ step_days }}) as integer)
                    )
                ),
                {{ min_horizon_days }}
            )
        {%- endif %} as rhythm_horizon_days
    from rhythm

),

candidate_horizons as (

    -- The rhythm's window, then each shorter by whole steps down to the minimum (a fixed horizon: itself only).
    {% if fixed_horizon_days is not none -%}
        select
            rhythm_horizon_days,
            rhythm_horizon_days as horizon_days
        from rhythm_horizon
    {%- else -%}
        {% for shortened_by in range(0, max_horizon_days, step_days) -%}
            select
                rhythm_horizon_days,
                rhythm_horizon_days - {{ shortened_by }} as horizon_days
            from rhythm_horizon
            where rhythm_horizon_days - {{ shortened_by }} >= {{ min_horizon_days }}
            {% if not loop.last %}union all{% endif %}
        {% endfor %}
    {%- endif %}

),

training_steps as (

    {% for k in range(1, max_training_cutoffs + 1) -%}
        select {{ k }} as training_step
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

candidate_cutoffs as (

    select
        candidate_horizons.horizon_days,
        training_steps.training_step,
        cast({{ dbt.dateadd(
            'day', '-(candidate_horizons.horizon_days * (training_steps.training_step + 1) - 1)', 'as_of.as_of_date'
        ) }} as date) as cutoff
    from candidate_horizons
    cross join training_steps
    cross join as_of

),

usable_horizons as (

    -- A window needs two training cutoffs after the first sale.
    select candidate_cutoffs.horizon_days
    from candidate_cutoffs
    cross join first_sale
    where candidate_cutoffs.cutoff > first_sale.first_order_date
    group by candidate_cutoffs.horizon_days
    having count(*) >= 2

),

chosen as (

    -- The longest usable window; none usable: the shortest candidate, with fewer than two training cutoffs (the
    -- model then reports the history as too short).
    select
        rhythm_horizon.median_gap_days,
        rhythm_horizon.rhythm_horizon_days,
        coalesce(
            (select max(usable_horizons.horizon_days) from usable_horizons),
            (select min(candidate_horizons.horizon_days) from candidate_horizons)
        ) as horizon_days
    from rhythm_horizon

),

training as (

    select
        candidate_cutoffs.cutoff,
        'training' as cutoff_role
    from candidate_cutoffs
    inner join chosen on candidate_cutoffs.horizon_days = chosen.horizon_days
    cross join first_sale
    where candidate_cutoffs.cutoff > first_sale.first_order_date

),

evaluation_and_scoring as (

    select
        cast({{ dbt.dateadd('day', '-(chosen.horizon_days - 1)', 'as_of.as_of_date') }} as date) as cutoff,
        'evaluation' as cutoff_role
    from chosen
    cross join as_of

    union all

    select
        cast({{ dbt.dateadd('day', 1, 'as_of.as_of_date') }} as date) as cutoff,
        'scoring' as cutoff_role
    from as_of

),

cutoffs as (

    select * from training
    union all
    select * from evaluation_and_scoring

),

final as (

    select
        cutoffs.cutoff,
        cutoffs.cutoff_role,
        cast(chosen.horizon_days as integer) as horizon_days,
        as_of.as_of_date,
        first_sale.first_order_date,
        cast(chosen.median_gap_days as double) as median_gap_days,
        cast(chosen.rhythm_horizon_days as integer) as rhythm_horizon_days,
        cast({{ max_training_cutoffs }} as integer) as max_training_cutoffs,
        cast({{ var('propensity_max_training_rows') | int }} as bigint) as max_training_rows
    from cutoffs
    cross join chosen
    cross join as_of
    cross join first_sale

)

select * from final
