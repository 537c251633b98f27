{#- Divisions used by the marts, in one place so that every mart rounds the same way
    (DECISIONS.md: Sales ratios and rounding). Both return null when the denominator is 0 or null.

    exact_ratio(n, d): a rate or share, n ÷ d as decimal(9,4).
    exact_money_ratio(n, d): money ÷ a count (average order value, revenue per customer, average
    unit price) as decimal(38,2), to the cent.

    Rounding is half away from zero on the exact quotient. Engines that divide decimals exactly
    (Postgres numeric) get that from a plain division and cast. DuckDB divides decimals in double
    precision, so that e.g. 0.29 ÷ 2 = 0.14499… would round to 0.14 instead of 0.15; its
    implementation therefore divides whole numbers of millionths exactly instead. Operands must
    have at most six decimals (money as delivered, money in cents, or counts: macros/money.sql). -#}

{% macro exact_ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('exact_ratio', 'comptoir')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__exact_ratio(numerator, denominator) -%}
    cast(
        case when ({{ denominator }}) <> 0
            then cast(({{ numerator }}) as {{ dbt.type_numeric() }}) / ({{ denominator }}) end
        as decimal(9, 4)
    )
{%- endmacro %}

{% macro duckdb__exact_ratio(numerator, denominator) -%}
    cast({{ comptoir.duckdb_exact_quotient(numerator, denominator, 4) }} as decimal(9, 4))
{%- endmacro %}


{% macro exact_money_ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('exact_money_ratio', 'comptoir')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__exact_money_ratio(numerator, denominator) -%}
    cast(
        case when ({{ denominator }}) <> 0
            then ({{ numerator }}) / ({{ denominator }}) end
        as decimal(38, 2)
    )
{%- endmacro %}

{% macro duckdb__exact_money_ratio(numerator, denominator) -%}
    cast({{ comptoir.duckdb_exact_quotient(numerator, denominator, 2) }} as decimal(38, 2))
{%- endmacro %}


{#- n ÷ d rounded half away from zero to `scale` decimals, computed on whole millionths with
    integer division so that no binary floating point is involved:
    q = (2·|N|·10^scale + |D|) div (2·|D|), with N = n·10^6 and D = d·10^6, signed as n ÷ d. -#}
{% macro duckdb_exact_quotient(numerator, denominator, scale) -%}
    {%- set n = "cast((" ~ numerator ~ ") * 1000000 as hugeint)" -%}
    {%- set d = "cast((" ~ denominator ~ ") * 1000000 as hugeint)" -%}
    case when ({{ denominator }}) <> 0 then
        cast(
            (case when (({{ numerator }}) < 0) <> (({{ denominator }}) < 0) then -1 else 1 end)
            * ((2 * abs({{ n }}) * {{ 10 ** scale }} + abs({{ d }})) // nullif(2 * abs({{ d }}), 0))
            as decimal(38, 0)
        ) * {{ '0.' ~ ('0' * (scale - 1)) ~ '1' }}
    end
{%- endmacro %}
