with source as (
    select
        *,
        payload -> 'properties' as props
    from {{ source('crm', 'tickets') }}
),

-- No DISTINCT ON: the raw table holds one row per id (its primary key; the loader keeps the
-- latest version), and without it a filter on the view (the incremental facts' batch window)
-- reaches the raw scan instead of waiting for every row's JSON to be parsed and sorted.
renamed as (
    select
        -- ids
        id as ticket_id,
        coalesce(
            nullif(props ->> 'hs_contact_id', ''),
            payload #>> '{associations,contacts,results,0,id}'
        ) as contact_id,
        nullif(props ->> 'hubspot_owner_id', '') as owner_id,

        -- strings
        nullif(btrim(props ->> 'subject'), '') as subject,
        nullif(upper(props ->> 'hs_ticket_category'), '') as category_code,
        nullif(upper(props ->> 'hs_ticket_priority'), '') as priority,
        nullif(props ->> 'hs_pipeline_stage', '') as pipeline_stage,
        case props ->> 'hs_pipeline_stage'
            when '1' then 'new'
            when '2' then 'waiting_on_contact'
            when '3' then 'waiting_on_us'
            when '4' then 'closed'
        end as ticket_status,
        nullif(upper(props ->> 'source_type'), '') as source_type,
        -- the CRM's source type in the channel codes the facts share (seed `channels`)
        case upper(props ->> 'source_type')
            when 'PHONE' then 'phone'
            when 'EMAIL' then 'email'
            when 'FORM' then 'portal'
        end as channel_code,

        -- numerics
        {{ try_cast_integer("props ->> 'nb_agent_replies'") }} as reply_count,
        {{ try_cast_integer("props ->> 'nb_reopens'") }} as reopen_count,

        -- booleans
        coalesce(props ->> 'hs_pipeline_stage' = '4', false) as is_closed,
        archived as is_archived,

        -- timestamps
        coalesce({{ try_cast_instant("props ->> 'createdate'") }}, source_created_at) as created_at,
        {{ try_cast_instant("props ->> 'first_agent_reply_date'") }} as first_reply_at,
        {{ try_cast_instant("props ->> 'closed_date'") }} as closed_at,
        source_updated_at as updated_at,

        -- metadata
        _record_hash as record_hash,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
