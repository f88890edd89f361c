-- The technicians' visits as the route planner (spec 2.3) reads them: one row per visit not
-- cancelled, with the day, the technician the office gave it, the customer's coordinates, the
-- arrival window promised at booking and the expected duration (minutes after Paris midnight),
-- the office's slot (its order), and the technician's home base. The visits of the day after the
-- as-of day (is_next_day) are the ones planned the evening before; earlier days feed the benchmark.
with visits as (
    select * from {{ ref('stg_app__interventions') }}
),

technicians as (
    select * from {{ ref('stg_app__technicians') }}
),

as_of as (
    select {{ data_as_of_date() }} as as_of_date
),

located as (
    select
        visits.intervention_id,
        {{ local_date('visits.scheduled_start_at') }} as work_date,
        visits.technician_id,
        visits.intervention_status,
        visits.latitude::double precision as latitude,
        visits.longitude::double precision as longitude,
        visits.scheduled_start_at,
        visits.booked_window_start_at,
        visits.booked_window_end_at,
        coalesce(
            visits.expected_duration_minutes,
            (extract(epoch from visits.scheduled_end_at - visits.scheduled_start_at) / 60)::integer
        ) as expected_duration_minutes,
        technicians.home_latitude::double precision as home_latitude,
        technicians.home_longitude::double precision as home_longitude
    from visits
    inner join technicians on visits.technician_id = technicians.technician_id
    where visits.intervention_status <> 'cancelled'
        and visits.scheduled_start_at is not null
        and visits.booked_window_start_at is not null
        and visits.latitude is not null
)

select
    located.intervention_id,
    located.work_date,
    located.work_date = as_of.as_of_date + 1 as is_next_day,
    located.technician_id,
    located.intervention_status,
    located.latitude,
    located.longitude,
    located.booked_window_start_at,
    located.booked_window_end_at,
    {{ minutes_after_local_midnight('located.booked_window_start_at', 'located.work_date') }} as window_start_minute,
    {{ minutes_after_local_midnight('located.booked_window_end_at', 'located.work_date') }} as window_end_minute,
    located.expected_duration_minutes,
    {{ minutes_after_local_midnight('located.scheduled_start_at', 'located.work_date') }} as office_slot_minute,
    located.home_latitude,
    located.home_longitude
from located
cross join as_of
where located.work_date <= as_of.as_of_date + 1
