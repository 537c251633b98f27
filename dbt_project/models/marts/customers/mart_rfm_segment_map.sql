{#- The RFM segment legend: one row per combination of the three 1–5 scores (125 rows), with the
    segment, the rule that assigned it and the recommended action. Built from the same macro as
    mart_customer_rfm, so its tests prove that every combination gets a segment
    (DECISIONS.md: RFM segments). -#}

with scores as (

    select cast(generated_number as integer) as score
    from ({{ dbt.generate_series(5) }}) as series

),

grid as (

    select
        recency.score as r_score,
        frequency.score as f_score,
        monetary.score as m_score
    from scores as recency
    cross join scores as frequency
    cross join scores as monetary

),

segmented as (

    select
        *,
        {{ customers_rfm_segment('r_score', 'f_score', 'm_score') }} as rfm_segment
    from grid

),

final as (

    select
        cast(r_score as {{ dbt.type_string() }})
        || cast(f_score as {{ dbt.type_string() }})
        || cast(m_score as {{ dbt.type_string() }}) as rfm_score,
        r_score,
        f_score,
        m_score,
        rfm_segment,
        {{ customers_rfm_segment_rule('rfm_segment') }} as segment_rule,
        {{ customers_rfm_action('rfm_segment') }} as recommended_action
    from segmented

)

select * from final
