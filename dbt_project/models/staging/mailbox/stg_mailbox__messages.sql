with source as (
    select * from {{ source('mailbox', 'messages') }}
),

renamed as (
    select
        -- ids
        id as message_id,
        nullif(payload ->> 'conversationId', '') as conversation_id,
        nullif(payload ->> 'internetMessageId', '') as internet_message_id,

        -- strings
        {{ normalize_email("payload #>> '{from,emailAddress,address}'") }} as sender_address,
        split_part({{ normalize_email("payload #>> '{from,emailAddress,address}'") }}, '@', 2) as sender_domain,
        nullif(btrim(payload #>> '{from,emailAddress,name}'), '') as sender_name,
        nullif(btrim(payload ->> 'subject'), '') as subject,
        nullif(payload ->> 'bodyPreview', '') as body_preview,
        coalesce(payload #>> '{flag,flagStatus}', 'notFlagged') as flag_status,
        payload #>> '{categories,0}' as category,
        array_to_string(array(select jsonb_array_elements_text(coalesce(payload -> 'categories', '[]'))), ', ')
            as categories,
        nullif(payload ->> 'importance', '') as importance,
        nullif(payload ->> 'inferenceClassification', '') as inference_classification,
        removed_reason,

        -- booleans
        coalesce(payload #>> '{flag,flagStatus}' = 'complete', false) as is_handled,
        coalesce((payload ->> 'isRead')::boolean, false) as is_read,
        coalesce((payload ->> 'hasAttachments')::boolean, false) as has_attachments,
        is_removed,

        -- timestamps
        received_at,
        {{ try_cast_instant("payload ->> 'sentDateTime'") }} as sent_at,
        last_modified_at,
        -- Graph's dateTimeTimeZone: a wall time and the zone it is in (UTC unless asked otherwise)
        case
            when payload #>> '{flag,flagStatus}' <> 'complete' then null
            when payload #>> '{flag,completedDateTime,dateTime}' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+$'
                and payload #>> '{flag,completedDateTime,timeZone}' in ('UTC', 'Etc/UTC', 'Europe/Paris')
                then (payload #>> '{flag,completedDateTime,dateTime}')::timestamp
                    at time zone (payload #>> '{flag,completedDateTime,timeZone}')
            else last_modified_at
        end as handled_at,
        removed_seen_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
