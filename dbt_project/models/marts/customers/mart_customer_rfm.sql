{#- One row per known customer with at least one sale order up to the as-of date: recency,
    frequency and monetary value, their 1–5 scores (int_customers__rfm_scores), the segment and
    the recommended action (macro customers_rfm_segment; DECISIONS.md: RFM scores, RFM segments). -#}

with scores as (

    select * from {{ ref('int_customers__rfm_scores') }}

),

segmented as (

    select
        *,
        {{ customers_rfm_segment('r_score', 'f_score', 'm_score') }} as rfm_segment
    from scores

),

final as (

    select
        customer_id,
        customer_name,
        country_name,
        loyalty_tier,
        as_of_date,
        last_order_date,
        recency_days,
        frequency,
        monetary,
        r_score,
        f_score,
        m_score,
        cast(r_score as {{ dbt.type_string() }})
        || cast(f_score as {{ dbt.type_string() }})
        || cast(m_score as {{ dbt.type_string() }}) as rfm_score,
        rfm_segment,
        {{ customers_rfm_action('rfm_segment') }} as recommended_action
    from segmented

)

select * from final
