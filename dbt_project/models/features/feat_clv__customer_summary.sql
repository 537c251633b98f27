{#- The probabilistic CLV model's input (ml/clv/): the per-customer summary BG/NBD + Gamma-Gamma take, in days,
    as mart_customer_ltv computes it (DECISIONS.md "Probabilistic CLV summary"): one definition, read here. -#}

with customer_ltv as (

    select
        customer_id,
        frequency,
        recency,
        t,
        monetary_value,
        as_of_date
    from {{ ref('mart_customer_ltv') }}

),

final as (

    select
        customer_id,
        frequency,
        recency,
        t,
        -- The models take floats; the mart keeps money exact.
        cast(monetary_value as double) as monetary_value,
        as_of_date
    from customer_ltv

)

select * from final
