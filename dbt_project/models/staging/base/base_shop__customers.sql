{#- Every raw customer record, parsed, with the first rule it breaks (dq_rule) and whether it
    was removed as a duplicate: an exact copy, or an earlier export of a customer exported again
    later in the file (the latest record wins). -#}

with source as (

    select * from {{ source('shop', 'customers') }}

),

countries as (

    select * from {{ ref('stg_reference__countries') }}

),

cleaned as (

    select
        {{ clean_text('source.customer_id') }} as customer_id,
        {{ clean_text('source.name') }} as customer_name,
        lower({{ clean_text('source.email') }}) as email,
        {{ clean_text('source.city') }} as city,
        {{ clean_text('source.country') }} as country_as_exported,
        countries.country_code,
        countries.country_name,
        {{ clean_text('source.registration_date') }} as registration_date_text,
        lower({{ clean_text('source.loyalty_tier') }}) as loyalty_tier,
        source._source_file as source_file,
        source._line_number as source_line,
        source._loaded_at as loaded_at,
        row_number() over (
            partition by
                source.customer_id, source.name, source.email, source.city, source.country,
                source.registration_date, source.loyalty_tier
            order by source._line_number
        ) as exact_copy_number
    from source
    left join countries
        on {{ country_alias_key('source.country') }} = countries.alias

),

parsed as (

    select
        *,
        cast({{ comptoir.try_cast('registration_date_text', 'timestamp') }} as date) as registered_on,
        {{ is_valid_email('email') }} as has_valid_email
    from cleaned

),

checked as (

    select
        *,
        case when exact_copy_number = 1 then {{ comptoir.first_broken_rule([
            ("customer_id is null", "blank_customer_id"),
            ("registration_date_text is null or not "
                ~ comptoir.looks_like_iso_timestamp('registration_date_text'), "unparsable_date"),
            ("registered_on is null", "impossible_date"),
            ("registered_on > cast(loaded_at as date)", "future_date"),
            ("loyalty_tier not in ('bronze', 'silver', 'gold', 'platinum')", "unknown_loyalty_tier"),
        ]) }} end as dq_rule
    from parsed

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, (exact_copy_number = 1 and dq_rule is null)
            order by source_line desc
        ) as recency_rank
    from checked

)

select
    customer_id,
    customer_name,
    email,
    has_valid_email,
    city,
    country_as_exported,
    country_code,
    country_name,
    registered_on,
    loyalty_tier,
    source_file,
    source_line,
    loaded_at,
    dq_rule,
    case
        when exact_copy_number > 1 then 'exact_duplicate'
        when dq_rule is null and recency_rank > 1 then 'superseded'
    end as removed_as
from ranked
