{#- Every raw web session, parsed, with the first rule it breaks (dq_rule). A session id seen
    twice keeps its last row (the last line of the last file in name order).

    Incremental: the rows of every session_id that a newly loaded raw row carries are judged again
    together and replace that key's rows (DECISIONS.md "Incremental builds"). -#}

with source as (

    {{ comptoir.raw_rows_to_judge(source('shop', 'web_sessions'), [clean_text('session_id')]) }}

),

parsed as (

    select
        dedup_key,
        {{ clean_text('session_id') }} as session_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ clean_text('started_at') }} as started_at_text,
        {{ comptoir.try_cast(clean_text('started_at'), 'timestamp') }} as started_at,
        lower({{ clean_text('channel') }}) as channel,
        lower({{ clean_text('device') }}) as device,
        {{ clean_text('pages_viewed') }} as pages_viewed_text,
        {{ comptoir.try_cast(clean_text('pages_viewed'), 'integer') }} as pages_viewed,
        {{ clean_text('order_id') }} as order_id,
        _source_file as source_file,
        _line_number as source_line,
        _loaded_at as loaded_at
    from source

),

checked as (

    select
        *,
        {{ comptoir.first_broken_rule([
            ("session_id is null", "blank_session_id"),
            ("started_at_text is null or not " ~ comptoir.looks_like_iso_timestamp('started_at_text'),
                "unparsable_date"),
            ("started_at is null", "impossible_date"),
            ("started_at > loaded_at", "future_date"),
        ] + comptoir.integer_text_rules('pages_viewed_text', 'pages_viewed', required=false) + [
            ("pages_viewed < 0", "negative_quantity"),
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
    session_id,
    customer_id,
    started_at,
    channel,
    device,
    pages_viewed,
    order_id,
    source_file,
    source_line,
    loaded_at,
    dq_rule,
    case when dq_rule is null and recency_rank > 1 then 'superseded' end as removed_as,
    dedup_key,
    {{ comptoir.batch_started_at() }} as refreshed_at
from ranked
