with source as (
    select * from {{ source('erp', 'f_jmouv') }}
),

renamed as (
    select distinct on (jo_num, jm_date)
        -- ids
        btrim(jo_num) || ':' || {{ local_date('jm_date') }} as journal_period_key,
        btrim(jo_num) as journal_code,

        -- numerics
        jm_cloture as closing_status,

        -- booleans: 0 open, 1 partly closed, 2 closed (no entry can be added or changed)
        jm_cloture = 2 as is_closed,

        -- dates (Sage writes 1753-01-01 for "no date")
        {{ local_date('jm_date') }} as period_month,

        -- timestamps
        case when jm_datecloture >= timestamptz '1900-01-01' then jm_datecloture end as closed_at,
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by jo_num, jm_date, cbmodification desc, _loaded_at desc
)

select * from renamed
