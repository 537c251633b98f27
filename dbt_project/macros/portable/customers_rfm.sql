{#- The RFM segment map (DECISIONS.md: RFM segments): ordered rules over the 1–5 scores, the
    first match wins. One list drives the segment name, its rule number and its recommended
    action, so mart_customer_rfm and the mart_rfm_segment_map legend cannot disagree. The rules
    cover all 125 score combinations, so the case has no else: a gap would show as a null segment
    and fail the not_null tests. Plain ANSI SQL, no dispatch needed. -#}

{% macro customers_rfm_segment_rules() -%}
    {{ return([
        {'segment': 'Champions', 'when': '{r} = 5 and {f} = 5 and {m} = 5',
         'action': 'Reward them: early access, referral programme; ask for reviews.'},
        {'segment': 'At risk', 'when': '{r} in (1, 2) and {f} in (4, 5)',
         'action': 'Win them back: personal e-mail, renewal offer; ask what went wrong.'},
        {'segment': 'Lost', 'when': '{r} = 1 and {f} = 1',
         'action': 'One low-cost reactivation campaign at most; otherwise stop spending on them.'},
        {'segment': 'Loyal', 'when': '{f} in (4, 5)',
         'action': 'Upsell higher-value products; invite them to the loyalty programme.'},
        {'segment': "Can't lose them", 'when': '{r} in (1, 2) and {m} in (4, 5)',
         'action': 'Contact them personally with a strong win-back offer before a competitor does.'},
        {'segment': 'Hibernating', 'when': '{r} in (1, 2)',
         'action': 'Reactivate with relevant products and a limited-time discount.'},
        {'segment': 'About to sleep', 'when': '{r} = 3 and {f} in (1, 2)',
         'action': 'Reconnect with popular products and a time-limited offer.'},
        {'segment': 'Need attention', 'when': '{r} = 3 and {f} = 3',
         'action': 'Send personalised recommendations and a limited-time offer.'},
        {'segment': 'New', 'when': '{r} = 5 and {f} = 1',
         'action': 'Onboard them: welcome series, help with first use, a nudge to a second order.'},
        {'segment': 'Promising', 'when': '{r} = 4 and {f} = 1',
         'action': 'Build the relationship: free shipping or a small incentive on the next order.'},
        {'segment': 'Potential loyalist', 'when': '{r} in (4, 5) and {f} in (2, 3)',
         'action': 'Offer loyalty-programme membership; recommend related products.'},
    ]) }}
{%- endmacro %}


{#- Segment name for the given score expressions (integers 1–5). -#}
{% macro customers_rfm_segment(r, f, m) -%}
    case
        {%- for rule in customers_rfm_segment_rules() %}
        when {{ rule.when | replace('{r}', r) | replace('{f}', f) | replace('{m}', m) }} then '{{ rule.segment | replace("'", "''") }}'
        {%- endfor %}
    end
{%- endmacro %}


{#- Position (1–11) of the rule that assigned a segment name. -#}
{% macro customers_rfm_segment_rule(segment) -%}
    case {{ segment }}
        {%- for rule in customers_rfm_segment_rules() %}
        when '{{ rule.segment | replace("'", "''") }}' then {{ loop.index }}
        {%- endfor %}
    end
{%- endmacro %}


{#- Recommended action, in plain words, for a segment name. -#}
{% macro customers_rfm_action(segment) -%}
    case {{ segment }}
        {%- for rule in customers_rfm_segment_rules() %}
        when '{{ rule.segment | replace("'", "''") }}' then '{{ rule.action | replace("'", "''") }}'
        {%- endfor %}
    end
{%- endmacro %}
