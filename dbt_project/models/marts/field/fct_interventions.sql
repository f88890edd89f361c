-- One row per visit booked in the technicians' app (maintenance, breakdown, installation):
-- slot, actual times, lateness, duration, on-site score and booking channel.
with interventions as (
    select * from {{ ref('stg_app__interventions') }}
    where not is_archived
),

identities as (
    select * from {{ ref('int_customer_identities_matched') }}
    where source_system = 'app'
),

field_quotes as (
    select
        intervention_id,
        count(*) as field_quotes
    from {{ ref('stg_app__field_quotes') }}
    where not is_archived
    group by intervention_id
)

select
    interventions.intervention_id,
    interventions.technician_id,
    identities.customer_id,
    interventions.customer_code,
    interventions.intervention_type,
    interventions.intervention_status,
    interventions.booked_via,
    interventions.channel_code,
    interventions.channel_code = 'portal' as is_booked_online,
    interventions.created_at as booked_at,
    {{ local_date('interventions.created_at') }} as booked_date,
    interventions.scheduled_start_at,
    interventions.scheduled_end_at,
    {{ local_date('interventions.scheduled_start_at') }} as scheduled_date,
    interventions.actual_start_at,
    interventions.actual_end_at,
    round((extract(epoch from interventions.scheduled_end_at - interventions.scheduled_start_at) / 60)::numeric, 1)
        as planned_minutes,
    round((extract(epoch from interventions.actual_end_at - interventions.actual_start_at) / 60)::numeric, 1)
        as actual_minutes,
    -- lateness of the arrival against the slot (negative: early)
    round((extract(epoch from interventions.actual_start_at - interventions.scheduled_start_at) / 60)::numeric, 1)
        as start_delay_minutes,
    interventions.satisfaction_score,
    interventions.intervention_status = 'done' as is_done,
    interventions.intervention_status = 'cancelled' as is_cancelled,
    coalesce(field_quotes.field_quotes, 0) as field_quotes,
    interventions.postal_code,
    interventions.city,
    interventions.latitude,
    interventions.longitude,
    interventions.updated_at,
    interventions.loaded_at
from interventions
left join identities on interventions.customer_code = identities.source_record_id
left join field_quotes on interventions.intervention_id = field_quotes.intervention_id
