{#- Clean order lines joined to their product and customer. A customer or product missing from
    its file is linked to the explicit unknown member ('UNKNOWN'); guests keep a null customer. -#}

with order_lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

customers as (

    select customer_id from {{ ref('stg_shop__customers') }}

),

joined as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        order_lines.line_number,
        case
            when order_lines.customer_id is null then null
            when customers.customer_id is null then '{{ var("unknown_member_id") }}'
            else order_lines.customer_id
        end as customer_id,
        order_lines.customer_id as source_customer_id,
        order_lines.is_guest,
        order_lines.customer_id is not null and customers.customer_id is null as is_unknown_customer,
        coalesce(products.product_id, '{{ var("unknown_member_id") }}') as product_id,
        order_lines.product_id as source_product_id,
        products.product_id is null as is_unknown_product,
        coalesce(products.category, 'Unknown') as category,
        order_lines.ordered_at,
        order_lines.order_date,
        order_lines.status,
        order_lines.quantity,
        order_lines.unit_price,
        products.unit_cost
    from order_lines
    left join products on order_lines.product_id = products.product_id
    left join customers on order_lines.customer_id = customers.customer_id

)

select * from joined
