{#- One row per clean order line with its money: revenue = quantity × unit_price, cost = quantity
    × unit cost (null when the product's cost is unknown), margin = revenue − cost. Completed lines
    are sales (is_sale); cancelled and returned lines are kept and flagged. -#}

with lines as (

    select * from {{ ref('int_order_lines__enriched') }}

),

final as (

    select
        order_line_id,
        order_id,
        line_number,
        customer_id,
        source_customer_id,
        is_guest,
        is_unknown_customer,
        product_id,
        source_product_id,
        is_unknown_product,
        category,
        ordered_at,
        order_date,
        status,
        status = 'completed' as is_sale,
        status = 'cancelled' as is_cancelled,
        status = 'returned' as is_returned,
        quantity,
        unit_price,
        cast(quantity * unit_price as decimal(18, 2)) as revenue,
        unit_cost,
        unit_cost is not null as has_cost,
        cast(quantity * unit_cost as decimal(18, 2)) as cost,
        cast(quantity * unit_price - quantity * unit_cost as decimal(18, 2)) as margin
    from lines

)

select * from final
