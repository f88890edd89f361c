with source as (
    select * from {{ source('app', 'technicians') }}
),

renamed as (
    select distinct on (id)
        -- ids
        id as technician_id,

        -- strings
        nullif(btrim(payload ->> 'first_name'), '') as first_name,
        nullif(btrim(payload ->> 'last_name'), '') as last_name,
        btrim(concat_ws(' ', payload ->> 'first_name', payload ->> 'last_name')) as full_name,
        {{ normalize_email("payload ->> 'email'") }} as email,
        {{ normalize_phone_e164("payload ->> 'phone'") }} as phone_e164,
        payload #>> '{home_base,city}' as home_city,
        (
            select string_agg(skill_list.skill, ', ' order by skill_list.skill)
            from jsonb_array_elements_text(coalesce(source.payload -> 'skills', '[]'::jsonb)) as skill_list (skill)
        ) as skills,

        -- numerics
        {{ try_cast_numeric("payload #>> '{home_base,latitude}'") }} as home_latitude,
        {{ try_cast_numeric("payload #>> '{home_base,longitude}'") }} as home_longitude,

        -- booleans
        coalesce((payload ->> 'active')::boolean, true) as is_active,
        archived as is_archived,

        -- timestamps
        source_updated_at as updated_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by id, source_updated_at desc, _loaded_at desc
)

select * from renamed
