with source as (
    select * from {{ source('cti', 'calls') }}
),

renamed as (
    select distinct on (call_id)
        -- ids
        call_id,
        nullif(agent_id, '') as agent_extension,

        -- strings
        caller_number,
        called_number,
        lower(direction) as direction,
        upper(queue) as queue,
        lower(outcome) as outcome,
        agent_name,

        -- numerics
        wait_seconds,
        talk_seconds,

        -- timestamps
        started_at,
        ended_at,
        (started_at at time zone '{{ var("local_timezone") }}')::date as call_date,

        -- metadata
        _file_name as source_file,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    -- a call delivered in two files keeps the latest delivery
    order by call_id, _file_date desc, _loaded_at desc
)

select * from renamed
