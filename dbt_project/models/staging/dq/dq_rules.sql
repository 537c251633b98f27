-- The data-quality rules a staging row can break, with what each means. A row breaks at most
-- one rule: the first in the order its base model checks them.

with rules (rule, rule_description) as (

    values
    ('blank_order_id', 'order_id is empty'),
    ('blank_product_id', 'product_id is empty'),
    ('blank_customer_id', 'customer_id is empty'),
    ('blank_warehouse_id', 'warehouse_id is empty'),
    ('blank_session_id', 'session_id is empty'),
    ('blank_event_id', 'event_id is empty'),
    ('invalid_line_number', 'line_number is empty, not an integer, below 1 or beyond 2,147,483,647'),
    ('unparsable_date', 'the date is empty or not an ISO-8601 date (YYYY-MM-DD[THH:MM:SS])'),
    ('impossible_date', 'the date is shaped like ISO-8601 but does not exist (e.g. 2025-02-30)'),
    ('future_date', 'the date lies after the time the file was loaded'),
    ('unparsable_quantity', 'the quantity is empty or not a whole number (2.5 and 1e3 are refused, not rounded)'),
    ('quantity_out_of_range', 'the quantity is a whole number beyond what the contract accepts (1,000,000 units on an order line; 2,147,483,647 elsewhere)'),
    ('nonpositive_quantity', 'the quantity is zero or negative'),
    ('negative_quantity', 'the quantity is negative'),
    ('price_with_separator', 'the price has a thousands separator or a decimal comma (1,234.50, 12,5): write 1234.50, 12.5'),
    ('price_too_precise', 'the price has more than 6 decimals: money is kept exactly as delivered, never rounded'),
    ('unparsable_price', 'the price is empty or not a decimal number'),
    ('price_out_of_range', 'the price is 10^12 or more: beyond what the contract accepts'),
    ('negative_price', 'the price is negative (0 is valid: a free item)'),
    ('cost_with_separator', 'the cost has a thousands separator or a decimal comma (1,234.50, 12,5): write 1234.50, 12.5'),
    ('cost_too_precise', 'the cost has more than 6 decimals: money is kept exactly as delivered, never rounded'),
    ('unparsable_cost', 'the cost is present but not a decimal number'),
    ('cost_out_of_range', 'the cost is 10^12 or more: beyond what the contract accepts'),
    ('negative_cost', 'the cost is negative'),
    ('unknown_status', 'the status is not completed, cancelled or returned'),
    ('unknown_loyalty_tier', 'the loyalty tier is not bronze, silver, gold or platinum'),
    ('unknown_event_type', 'the event type is not sent, opened or clicked'),
    ('duplicate_key', 'another, different line in the file already has this order_id and line_number')

)

select * from rules
