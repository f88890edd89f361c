with source as (
    select * from {{ source('cti', 'calls') }}
),

renamed as (
    -- a call delivered in two files keeps its latest delivery
    select distinct on (call_id)
        -- ids
        call_id,
        nullif(btrim(agent_id), '') as agent_extension,

        -- strings
        nullif(btrim(caller_number), '') as caller_number,
        nullif(btrim(called_number), '') as called_number,
        -- the other party: the caller of an inbound call, the number dialled by an outbound one
        nullif(btrim(case when lower(direction) = 'outbound' then called_number else caller_number end), '')
            as party_number,
        case
            when '{{ var("night_line") }}' in (caller_number, called_number) then 'night'
            else 'day'
        end as line,
        lower(direction) as direction,
        upper(queue) as queue,
        lower(outcome) as outcome,
        nullif(btrim(agent_name), '') as agent_name,

        -- numerics
        wait_seconds,
        talk_seconds,

        -- timestamps
        started_at,
        ended_at,
        {{ local_date('started_at') }} as call_date,
        local_start_time,

        -- metadata
        _file_name as source_file,
        _file_date as source_file_date,
        _line_number as source_line,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by call_id, _file_date desc, _loaded_at desc
)

select * from renamed
