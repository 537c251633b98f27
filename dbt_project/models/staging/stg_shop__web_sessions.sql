-- One row per valid web session.
-- Quarantined rows and removed duplicates stay in base_shop__web_sessions; see dq_quarantine.

with base as (

    select * from {{ ref('base_shop__web_sessions') }}
    where dq_rule is null and removed_as is null

),

renamed as (

    select
        session_id,
        customer_id,
        customer_id is null as is_anonymous,
        started_at,
        cast(started_at as date) as session_date,
        channel,
        device,
        pages_viewed,
        order_id,
        order_id is not null as is_converted,
        source_file,
        source_line,
        refreshed_at
    from base

)

select * from renamed
