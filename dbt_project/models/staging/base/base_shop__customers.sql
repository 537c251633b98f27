{#- Every raw customer record, parsed, with the first rule it breaks (dq_rule) and whether it
    was removed as a duplicate: an exact copy, or an earlier export of a customer exported again
    later (the latest record wins: the last line of the last file in name order).

    Incremental: the rows of every customer_id that a newly loaded raw row carries are judged
    again together and replace that key's rows (DECISIONS.md "Incremental builds"). -#}

with source as (

    {{ comptoir.raw_rows_to_judge(source('shop', 'customers'), [clean_text('customer_id')]) }}

),

countries as (

    select * from {{ ref('stg_reference__countries') }}

),

cleaned as (

    select
        source.dedup_key,
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
            order by source._source_file, source._line_number
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
            partition by dedup_key, (exact_copy_number = 1 and dq_rule is null)
            order by source_file desc, source_line desc
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
    end as removed_as,
    dedup_key,
    {{ comptoir.batch_started_at() }} as refreshed_at
from ranked
