{#- The KPI definitions shared by mart_kpis (one row) and mart_kpis_monthly (one row per month), so
    a rate means the same thing in both (DECISIONS.md: Sales KPI definitions). Both read a CTE with
    the counts and sums named as below; repeat_customers is the expression for customers who bought
    more than once (all-time) or before this month (monthly). -#}

{% macro kpi_sales_columns() -%}
        revenue,
        cost,
        costed_revenue,
        margin,
        {{ comptoir.exact_ratio('margin', 'costed_revenue') }} as margin_pct,
        orders,
        units,
        customers
{%- endmacro %}

{% macro kpi_rate_columns(repeat_customers) -%}
        {{ comptoir.exact_money_ratio('revenue', 'orders') }} as average_order_value,
        known_customer_revenue,
        {{ comptoir.exact_money_ratio('known_customer_revenue', 'customers') }} as revenue_per_customer,
        guest_revenue,
        {{ comptoir.exact_ratio('guest_revenue', 'revenue') }} as guest_revenue_share,
        {{ comptoir.exact_ratio(repeat_customers, 'customers') }} as repeat_purchase_rate,
        order_lines,
        completed_lines,
        cancelled_lines,
        returned_lines,
        {{ comptoir.exact_ratio('cancelled_lines', 'order_lines') }} as cancellation_rate,
        {{ comptoir.exact_ratio('returned_lines', 'completed_lines + returned_lines') }} as return_rate,
        sessions,
        converted_sessions,
        {{ comptoir.exact_ratio('converted_sessions', 'sessions') }} as conversion_rate,
        emails_sent,
        emails_opened,
        emails_clicked,
        {{ comptoir.exact_ratio('emails_opened', 'emails_sent') }} as email_open_rate,
        {{ comptoir.exact_ratio('emails_clicked', 'emails_sent') }} as email_click_rate
{%- endmacro %}
