{#- Money, in one place (DECISIONS.md: Money precision and rounding).

    money_type(): unit prices and unit costs, exact as delivered: up to 6 decimals, below 10^12 (the raw
    contract, orchestration/contract.py MONEY_TYPE; larger values are quarantined, never cast).
    amount_type(): line amounts (quantity × unit price, computed without rounding) and their sums in the
    intermediate models and the facts: 38 digits, so that no amount the contract accepts can overflow
    (10^6 units × 10^12 is 10^18; a sum of a billion such lines is 10^27 < 10^32).
    cents(expr): the one rounding rule. A money figure a mart shows is the exact sum (or amount)
    rounded once, half away from zero, to the cent, decimal(38, 2); never a sum of rounded amounts.
    cents_margin(revenue, cost): a margin as shown: cents(revenue) − cents(cost), so that
    margin = revenue − cost holds on the row as shown (within a cent of the exact margin).
    money_text_rules(text, what): the quarantine rules of a delivered money text, in the order they
    are checked, as (condition, rule) pairs for first_broken_rule; `what` is 'price' or 'cost'. -#}

{% macro money_type() -%}
    decimal(18, 6)
{%- endmacro %}

{% macro amount_type() -%}
    decimal(38, 6)
{%- endmacro %}

{#- quantity × unit price (or cost) in amount_type: the quantity is widened first, because engines size the
    product by its operands (DuckDB: DECIMAL(18) × INTEGER overflows past 18 digits). -#}
{% macro line_amount(quantity, price) -%}
    cast(cast({{ quantity }} as decimal(38, 0)) * ({{ price }}) as {{ comptoir.amount_type() }})
{%- endmacro %}

{% macro cents(expr) -%}
    cast(round({{ expr }}, 2) as decimal(38, 2))
{%- endmacro %}

{% macro cents_margin(revenue, cost) -%}
    cast({{ comptoir.cents(revenue) }} - {{ comptoir.cents(cost) }} as decimal(38, 2))
{%- endmacro %}

{% macro money_text_rules(text, what) -%}
    {#- 1,234.50 / 1 234.50 (grouped thousands), 12,5 / 1,500 (a comma: decimal or thousands,
        ambiguous either way), 1.234,50 (dot thousands, comma decimal) -#}
    {%- set separated = "[+-]?([0-9]{1,3}([, ][0-9]{3})+([.][0-9]*)?|[0-9]+,[0-9]*|[0-9]{1,3}([.][0-9]{3})+,[0-9]*)" -%}
    {{ return([
        ("coalesce(" ~ comptoir.regexp_full_match(text, separated) ~ ", false)", what ~ "_with_separator"),
        ("coalesce(" ~ comptoir.regexp_full_match(text, "[+-]?[0-9]*[.][0-9]{7,}") ~ ", false)",
            what ~ "_too_precise"),
    ]) }}
{%- endmacro %}
