with source as (
    select
        *,
        payload -> 'properties' as props
    from {{ source('crm', 'survey_invitations') }}
),

renamed as (
    select distinct on (id)
        -- ids
        id as survey_invitation_id,
        nullif(props ->> 'hs_contact_id', '') as contact_id,
        nullif(props ->> 'hs_ticket_id', '') as ticket_id,

        -- strings
        nullif(upper(props ->> 'survey_type'), '') as survey_type,

        -- booleans
        archived as is_archived,

        -- timestamps
        coalesce({{ try_cast_instant("props ->> 'sent_at'") }}, source_created_at) as sent_at,
        source_updated_at as updated_at,

        -- metadata
        _record_hash as record_hash,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by id, source_updated_at desc, _loaded_at desc
)

select * from renamed
