with source as (
    select * from {{ source('app', 'interventions') }}
),

renamed as (
    select distinct on (id)
        -- ids
        id as intervention_id,
        nullif(payload ->> 'technician_id', '') as technician_id,
        nullif(upper(btrim(payload ->> 'customer_code')), '') as customer_code,

        -- strings
        nullif(btrim(payload ->> 'customer_name'), '') as customer_name,
        {{ normalize_phone_e164("payload ->> 'customer_phone'") }} as customer_phone_e164,
        nullif(lower(payload ->> 'type'), '') as intervention_type,
        nullif(lower(payload ->> 'status'), '') as intervention_status,
        nullif(lower(payload ->> 'booked_via'), '') as booked_via,
        -- the app's booking channel in the channel codes the facts share (seed `channels`)
        case lower(payload ->> 'booked_via')
            when 'phone' then 'phone'
            when 'email' then 'email'
            when 'portal' then 'portal'
            when 'technician' then 'field'
        end as channel_code,
        nullif(btrim(payload #>> '{address,street}'), '') as street,
        nullif(btrim(payload #>> '{address,postal_code}'), '') as postal_code,
        nullif(btrim(payload #>> '{address,city}'), '') as city,
        nullif(btrim(payload ->> 'signed_by'), '') as signed_by,

        -- numerics
        {{ try_cast_numeric("payload #>> '{address,latitude}'") }} as latitude,
        {{ try_cast_numeric("payload #>> '{address,longitude}'") }} as longitude,
        {{ try_cast_integer("payload ->> 'satisfaction_score'") }} as satisfaction_score,
        {{ try_cast_integer("payload ->> 'expected_duration_minutes'") }} as expected_duration_minutes,

        -- booleans
        archived as is_archived,

        -- timestamps
        {{ try_cast_instant("payload ->> 'scheduled_start'") }} as scheduled_start_at,
        {{ try_cast_instant("payload ->> 'scheduled_end'") }} as scheduled_end_at,
        {{ try_cast_instant("payload #>> '{booked_window,start}'") }} as booked_window_start_at,
        {{ try_cast_instant("payload #>> '{booked_window,end}'") }} as booked_window_end_at,
        {{ try_cast_instant("payload ->> 'actual_start'") }} as actual_start_at,
        {{ try_cast_instant("payload ->> 'actual_end'") }} as actual_end_at,
        coalesce({{ try_cast_instant("payload ->> 'created_at'") }}, source_created_at) as created_at,
        source_updated_at as updated_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by id, source_updated_at desc, _loaded_at desc
)

select * from renamed
