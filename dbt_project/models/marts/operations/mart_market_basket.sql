{#- One row per pair of distinct catalogue products bought together in at least
    var('basket_min_pair_count') sale orders (completed lines, a product counted once per order),
    with support, confidence and lift (DECISIONS.md: Market basket). The one documented self-join
    of order lines: an order's products joined to each other. A-priori pruning first: a pair can
    reach the threshold only if each of its products is in at least that many orders, so only
    those products are paired, in orders left with two or more of them; product_orders and
    total_orders still count every product. Lines of products missing from the catalogue
    ('UNKNOWN') are not paired, since that id stands for many products, but their orders count
    in total_orders. -#}

with order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

as_of as (

    select as_of_date from {{ ref('int_as_of_date') }}

),

order_products as (

    select distinct
        order_lines.order_id,
        order_lines.product_id
    from order_lines
    cross join as_of
    where
        order_lines.is_sale
        and order_lines.order_date <= as_of.as_of_date

),

sale_orders as (

    select cast(count(distinct order_id) as bigint) as total_orders
    from order_products

),

known_order_products as (

    select * from order_products
    where product_id <> '{{ var("unknown_member_id") }}'

),

product_orders as (

    select
        product_id,
        cast(count(*) as bigint) as product_orders
    from known_order_products
    group by product_id

),

frequent_order_products as (

    -- A-priori: a product in fewer orders than the threshold cannot be in a pair that reaches it.
    select known_order_products.*
    from known_order_products
    inner join product_orders on known_order_products.product_id = product_orders.product_id
    where product_orders.product_orders >= {{ var('basket_min_pair_count') }}

),

multi_product_orders as (

    select order_id
    from frequent_order_products
    group by order_id
    having count(*) >= 2

),

basket_lines as (

    select frequent_order_products.*
    from frequent_order_products
    inner join multi_product_orders on frequent_order_products.order_id = multi_product_orders.order_id

),

pairs as (

    select
        product_a.product_id as product_a_id,
        product_b.product_id as product_b_id,
        cast(count(*) as bigint) as pair_orders
    from basket_lines as product_a
    inner join basket_lines as product_b
        on
            product_a.order_id = product_b.order_id
            and product_a.product_id < product_b.product_id
    group by product_a.product_id, product_b.product_id
    having count(*) >= {{ var('basket_min_pair_count') }}

),

final as (

    select
        pairs.product_a_id,
        products_a.product_name as product_a_name,
        products_a.category as product_a_category,
        pairs.product_b_id,
        products_b.product_name as product_b_name,
        products_b.category as product_b_category,
        pairs.pair_orders,
        orders_a.product_orders as orders_with_a,
        orders_b.product_orders as orders_with_b,
        sale_orders.total_orders,
        cast(1.0 * pairs.pair_orders / sale_orders.total_orders as double) as support,
        cast(1.0 * pairs.pair_orders / orders_a.product_orders as double) as confidence_a_to_b,
        cast(1.0 * pairs.pair_orders / orders_b.product_orders as double) as confidence_b_to_a,
        -- support ÷ (support_a × support_b), written with counts to avoid tiny intermediates
        cast(
            1.0 * pairs.pair_orders * sale_orders.total_orders
            / (1.0 * orders_a.product_orders * orders_b.product_orders)
            as double
        ) as lift
    from pairs
    inner join product_orders as orders_a on pairs.product_a_id = orders_a.product_id
    inner join product_orders as orders_b on pairs.product_b_id = orders_b.product_id
    inner join products as products_a on pairs.product_a_id = products_a.product_id
    inner join products as products_b on pairs.product_b_id = products_b.product_id
    cross join sale_orders

)

select * from final
