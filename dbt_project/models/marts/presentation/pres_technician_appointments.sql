-- Visits of the planning day (the first day after the last loaded day with visits booked:
-- "aujourd'hui" for the team reading it in the morning), one row per visit with the slot,
-- customer, address, phone and type: the technician's "mes RDV" and the operations
-- "planning techniciens". Technicians see only their own rows (row-level security on
-- technician_id, bi/access.yaml); the phone is masked (macros/pii.sql): the technician calls
-- ahead from the mobile app, which has the number; BI shows which number it is, not all of it.
-- Route order and travel time come from the route plan (ml.technician_routes), a source
-- still to come: the columns are here, empty, and the dashboards say so.
with visits as (
    select * from {{ ref('fct_interventions') }}
),

planning_day as (
    select min(scheduled_date) as planning_date
    from visits
    where scheduled_date > {{ data_as_of_date() }}
),

app_visits as (
    select
        intervention_id,
        customer_name,
        customer_phone_e164,
        street
    from {{ ref('stg_app__interventions') }}
),

customers as (
    select * from {{ ref('dim_customer') }}
    where is_current
)

select
    visits.intervention_id,
    visits.technician_id,
    technicians.full_name as technician_name,
    planning_day.planning_date,
    visits.scheduled_start_at,
    ({{ fr_time('visits.scheduled_start_at') }} || '–' || {{ fr_time('visits.scheduled_end_at') }})::text as slot,
    coalesce(customers.customer_name, app_visits.customer_name)::text as customer_name,
    concat_ws(', ', app_visits.street, concat_ws(' ', visits.postal_code, visits.city))::text as address,
    visits.city,
    coalesce({{ mask_phone('app_visits.customer_phone_e164') }}, customers.phone_masked)::text as customer_phone,
    (case visits.intervention_type
        when 'annual_maintenance' then 'Entretien annuel'
        when 'breakdown' then 'Dépannage'
        when 'installation' then 'Installation'
        else initcap(visits.intervention_type)
    end)::text as intervention_type_label,
    (case visits.intervention_status
        when 'scheduled' then 'Prévu'
        when 'cancelled' then 'Annulé'
        when 'done' then 'Fait'
        else visits.intervention_status
    end)::text as status_label,
    visits.is_cancelled,
    null::integer as route_order,
    null::integer as travel_minutes,
    'à venir'::text as travel_label
from visits
cross join planning_day
inner join {{ ref('dim_technician') }} as technicians on visits.technician_id = technicians.technician_id
left join app_visits on visits.intervention_id = app_visits.intervention_id
left join customers on visits.customer_id = customers.customer_id
where visits.scheduled_date = planning_day.planning_date
