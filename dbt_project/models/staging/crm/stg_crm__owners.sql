with source as (
    select * from {{ source('crm', 'owners') }}
),

renamed as (
    select distinct on (id)
        -- ids
        id as owner_id,
        payload ->> 'userId' as user_id,

        -- strings
        nullif(btrim(payload ->> 'firstName'), '') as first_name,
        nullif(btrim(payload ->> 'lastName'), '') as last_name,
        btrim(concat_ws(' ', payload ->> 'firstName', payload ->> 'lastName')) as full_name,
        {{ normalize_email("payload ->> 'email'") }} as email,

        -- booleans
        archived as is_archived,

        -- timestamps
        source_created_at as created_at,
        source_updated_at as updated_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by id, source_updated_at desc, _loaded_at desc
)

select * from renamed
