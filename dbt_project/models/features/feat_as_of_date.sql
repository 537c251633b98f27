{#- The as-of date the ML models are fitted and scored at: the marts' own (int_as_of_date), so ML results
    and marts always agree. -#}

select
    as_of_date,
    last_order_date
from {{ ref('int_as_of_date') }}
