with source as (
    select * from {{ source('app', 'field_quotes') }}
),

renamed as (
    select distinct on (id)
        -- ids
        id as field_quote_id,
        nullif(payload ->> 'intervention_id', '') as intervention_id,
        nullif(payload ->> 'technician_id', '') as technician_id,
        nullif(upper(btrim(payload ->> 'customer_code')), '') as customer_code,
        nullif(upper(btrim(payload ->> 'erp_quote_number')), '') as erp_quote_number,

        -- strings
        nullif(lower(payload ->> 'status'), '') as quote_status,
        nullif(upper(payload ->> 'currency'), '') as currency,

        -- numerics
        {{ try_cast_numeric("payload ->> 'amount_ht'") }} as amount_ht,

        -- booleans
        archived as is_archived,

        -- timestamps
        coalesce({{ try_cast_instant("payload ->> 'created_at'") }}, source_created_at) as created_at,
        {{ try_cast_instant("payload ->> 'decided_at'") }} as decided_at,
        source_updated_at as updated_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by id, source_updated_at desc, _loaded_at desc
)

select * from renamed
