-- One row per valid e-mail event.
-- Quarantined rows and removed duplicates stay in base_shop__email_events; see dq_quarantine.

with base as (

    select * from {{ ref('base_shop__email_events') }}
    where dq_rule is null and removed_as is null

),

renamed as (

    select
        event_id,
        customer_id,
        campaign_id,
        event_type,
        event_at,
        cast(event_at as date) as event_date,
        source_file,
        source_line,
        refreshed_at
    from base

)

select * from renamed
