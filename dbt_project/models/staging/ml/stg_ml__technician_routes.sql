with source as (
    {{ source_or_empty('ml', 'technician_routes') }}
),

renamed as (
    select
        -- ids
        intervention_id,
        technician_id,
        office_technician_id,

        -- dates
        route_date,
        planned_on,

        -- timestamps
        planned_arrival as planned_arrival_at,
        window_start as window_start_at,
        window_end as window_end_at,

        -- numerics
        position as route_order,
        duration_minutes,
        km_from_previous,
        minutes_from_previous as travel_minutes_from_previous,
        km_to_home,

        -- strings
        planner,

        -- metadata
        planned_at
    from source
)

select * from renamed
