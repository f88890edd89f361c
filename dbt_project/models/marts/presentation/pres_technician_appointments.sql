-- Visits of the planning day (the first day after the last loaded day with visits booked:
-- "aujourd'hui" for the team reading it in the morning), one row per visit with the slot,
-- customer, address, phone and type: the technician's "mes RDV" and the operations
-- "planning techniciens". Technicians see only their own rows (row-level security on
-- technician_id, bi/access.yaml); the phone is masked (macros/pii.sql): the technician calls
-- ahead from the mobile app, which has the number; BI shows which number it is, not all of it.
-- Route order, travel time and planned arrival come from the route plan of that day
-- (ml.technician_routes), which ml_scoring makes after the marts are published: tagged
-- ml_outputs, so ml_scoring rebuilds and republishes this mart with the plan.
{{ config(tags=['ml_outputs']) }}

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
),

routes as (
    select routes.*
    from {{ ref('stg_ml__technician_routes') }} as routes
    inner join planning_day on routes.route_date = planning_day.planning_date
),

-- the plan may send a visit to another technician than the office booked: said, not applied
planned_technicians as (
    select
        routes.intervention_id,
        routes.technician_id,
        routes.route_order,
        routes.planned_arrival_at,
        round(routes.travel_minutes_from_previous)::integer as travel_minutes,
        technicians.full_name as technician_name
    from routes
    inner join {{ ref('dim_technician') }} as technicians on routes.technician_id = technicians.technician_id
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
    -- the order and travel of the visit in this technician's round (not in another's)
    (case when planned.technician_id = visits.technician_id then planned.route_order end)::integer as route_order,
    (
        case when planned.technician_id = visits.technician_id then planned.travel_minutes end
    )::integer as travel_minutes,
    (case
        when visits.is_cancelled then 'annulée'
        when not exists (select from routes) then 'plan de tournée pas encore calculé'
        when planned.intervention_id is null then 'hors tournée'
        -- no colleague's name here: a technician's login reads this column (operations has it below)
        when planned.technician_id <> visits.technician_id then 'confiée à un collègue par le plan'
        else planned.travel_minutes || ' min de trajet'
            || (case when planned.route_order = 1 then ' depuis le domicile' else '' end)
            || ' · arrivée ' || {{ fr_time('planned.planned_arrival_at') }}
    end)::text as travel_label,
    -- empty rather than null: the table shows N/A for a null
    (case when planned.technician_id <> visits.technician_id then planned.technician_name else '' end)::text
        as planned_technician_name
from visits
cross join planning_day
inner join {{ ref('dim_technician') }} as technicians on visits.technician_id = technicians.technician_id
left join app_visits on visits.intervention_id = app_visits.intervention_id
left join customers on visits.customer_id = customers.customer_id
left join planned_technicians as planned on visits.intervention_id = planned.intervention_id
where visits.scheduled_date = planning_day.planning_date
