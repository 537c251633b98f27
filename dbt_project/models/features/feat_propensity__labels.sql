{#- The label of every training and evaluation row of feat_propensity__customer_cutoffs: 1 when the customer has a
    sale order dated in [cutoff, cutoff + horizon_days), else 0. Reads only that window, never the features'
    past; the scoring cutoff's window lies after the as-of date, so it has no label. -#}

with population as (

    select
        customer_cutoffs.customer_id,
        customer_cutoffs.cutoff,
        cutoffs.horizon_days
    from {{ ref('feat_propensity__customer_cutoffs') }} as customer_cutoffs
    inner join {{ ref('feat_propensity__cutoffs') }} as cutoffs
        on customer_cutoffs.cutoff = cutoffs.cutoff
    where cutoffs.cutoff_role in ('training', 'evaluation')

),

sale_orders as (

    select
        customer_id,
        order_date
    from {{ ref('int_customer_orders') }}
    where is_sale

),

buyers as (

    select distinct
        population.customer_id,
        population.cutoff
    from population
    inner join sale_orders
        on
            population.customer_id = sale_orders.customer_id
            and population.cutoff <= sale_orders.order_date
            and {{ dbt.datediff('population.cutoff', 'sale_orders.order_date', 'day') }} < population.horizon_days

),

final as (

    select
        population.customer_id,
        population.cutoff,
        population.horizon_days,
        cast(case when buyers.customer_id is not null then 1 else 0 end as integer) as label
    from population
    left join buyers
        on population.customer_id = buyers.customer_id and population.cutoff = buyers.cutoff

)

select * from final
