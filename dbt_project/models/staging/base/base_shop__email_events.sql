{#- Every raw e-mail event, parsed, with the first rule it breaks (dq_rule). An event id seen
    twice keeps its last row (the last line of the last file in name order).

    Incremental: the rows of every event_id that a newly loaded raw row carries are judged again
    together and replace that key's rows (DECISIONS.md "Incremental builds"). -#}

with source as (

    {{ comptoir.raw_rows_to_judge(source('shop', 'email_events'), [clean_text('event_id')]) }}

),

parsed as (

    select
        dedup_key,
        {{ clean_text('event_id') }} as event_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('campaign_id') }} as campaign_id,
        lower({{ clean_text('event_type') }}) as event_type,
        {{ clean_text('event_at') }} as event_at_text,
        {{ comptoir.try_cast(clean_text('event_at'), 'timestamp') }} as event_at,
        _source_file as source_file,
        _line_number as source_line,
        _loaded_at as loaded_at
    from source

),

checked as (

    select
        *,
        {{ comptoir.first_broken_rule([
            ("event_id is null", "blank_event_id"),
            ("customer_id is null", "blank_customer_id"),
            ("event_at_text is null or not " ~ comptoir.looks_like_iso_timestamp('event_at_text'),
                "unparsable_date"),
            ("event_at is null", "impossible_date"),
            ("event_at > loaded_at", "future_date"),
            ("event_type is null or event_type not in ('sent', 'opened', 'clicked')", "unknown_event_type"),
        ]) }} as dq_rule
    from parsed

),

ranked as (

    select
        *,
        row_number() over (
            partition by dedup_key, (dq_rule is null) order by source_file desc, source_line desc
        ) as recency_rank
    from checked

)

select
    event_id,
    customer_id,
    campaign_id,
    event_type,
    event_at,
    source_file,
    source_line,
    loaded_at,
    dq_rule,
    case when dq_rule is null and recency_rank > 1 then 'superseded' end as removed_as,
    dedup_key,
    {{ comptoir.batch_started_at() }} as refreshed_at
from ranked
