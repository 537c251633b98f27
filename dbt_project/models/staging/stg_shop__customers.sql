-- One row per customer: the latest valid record exported.
-- Quarantined rows and removed duplicates stay in base_shop__customers; see dq_quarantine.

with base as (

    select * from {{ ref('base_shop__customers') }}
    where dq_rule is null and removed_as is null

),

renamed as (

    select
        customer_id,
        customer_name,
        email,
        has_valid_email,
        city,
        country_code,
        coalesce(country_name, country_as_exported) as country_name,
        country_as_exported,
        registered_on,
        loyalty_tier,
        source_file,
        source_line,
        refreshed_at
    from base

)

select * from renamed
