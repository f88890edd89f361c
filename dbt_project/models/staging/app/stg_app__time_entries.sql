with source as (
    select * from {{ source('app', 'time_entries') }}
),

-- No DISTINCT ON: the raw table holds one row per id (its primary key; the loader keeps the
-- latest version), and without it a filter on the view (the incremental facts' batch window)
-- reaches the raw scan instead of waiting for every row's JSON to be parsed and sorted.
renamed as (
    select
        -- ids
        id as time_entry_id,
        nullif(payload ->> 'technician_id', '') as technician_id,
        nullif(payload ->> 'intervention_id', '') as intervention_id,
        nullif(payload ->> 'staff_id', '') as staff_id,

        -- strings
        nullif(lower(payload ->> 'kind'), '') as entry_kind,
        {{ normalize_email("payload ->> 'staff_email'") }} as staff_email,
        -- the time clock serves the technicians and, since the office joined it, the office staff
        case
            when nullif(payload ->> 'technician_id', '') is not null then 'technician'
            when nullif(payload ->> 'staff_id', '') is not null then 'office'
        end as employee_role,

        -- booleans
        archived as is_archived,

        -- timestamps
        case when payload ->> 'work_date' ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' then (payload ->> 'work_date')::date end
            as work_date,
        {{ try_cast_instant("payload ->> 'clock_in'") }} as clock_in_at,
        {{ try_cast_instant("payload ->> 'clock_out'") }} as clock_out_at,
        source_updated_at as updated_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
