-- Field KPIs per technician and day (technician dashboard, "Mes stats"): visits, time on site,
-- lateness, on-site satisfaction, quotes written and accepted, field-quote revenue, clocked
-- time and night-line calls. Only days with activity; weeks, months and years add up.
with visits as (
    select
        scheduled_date as kpi_date,
        technician_id,
        count(*) as interventions_scheduled,
        count(*) filter (where is_done) as interventions_done,
        count(*) filter (where is_cancelled) as interventions_cancelled,
        coalesce(sum(actual_minutes) filter (where is_done), 0) as intervention_minutes_total,
        coalesce(sum(greatest(start_delay_minutes, 0)) filter (where is_done), 0) as start_delay_minutes_total,
        count(*) filter (where is_done and start_delay_minutes > 15) as late_arrivals,
        count(satisfaction_score) as satisfaction_scores,
        coalesce(sum(satisfaction_score), 0) as satisfaction_score_total
    from {{ ref('fct_interventions') }}
    group by scheduled_date, technician_id
),

quotes_written as (
    select
        created_date as kpi_date,
        technician_id,
        count(*) as field_quotes_created,
        coalesce(sum(amount_ht), 0) as field_quotes_created_amount_eur
    from {{ ref('fct_quotes') }}
    where origin = 'field'
    group by created_date, technician_id
),

quotes_accepted as (
    select
        decision_date as kpi_date,
        technician_id,
        count(*) as field_quotes_accepted,
        coalesce(sum(amount_ht), 0) as field_quote_revenue_eur
    from {{ ref('fct_quotes') }}
    where origin = 'field' and is_accepted
    group by decision_date, technician_id
),

clocked as (
    select
        work_date as kpi_date,
        technician_id,
        coalesce(sum(duration_minutes) filter (where entry_kind = 'work'), 0) as work_minutes,
        coalesce(sum(duration_minutes) filter (where entry_kind = 'travel'), 0) as travel_minutes,
        coalesce(sum(duration_minutes) filter (where entry_kind = 'admin'), 0) as admin_minutes,
        count(*) as time_entries
    from {{ ref('fct_time_entries') }}
    group by work_date, technician_id
),

night_calls as (
    select
        call_date as kpi_date,
        technician_id,
        count(*) as night_line_calls_answered
    from {{ ref('fct_calls') }}
    where line = 'night' and is_answered and technician_id is not null
    group by call_date, technician_id
),

keys as (
    select
        kpi_date,
        technician_id
    from visits
    union
    select
        kpi_date,
        technician_id
    from quotes_written
    union
    select
        kpi_date,
        technician_id
    from quotes_accepted
    union
    select
        kpi_date,
        technician_id
    from clocked
    union
    select
        kpi_date,
        technician_id
    from night_calls
)

select
    keys.kpi_date || ':' || keys.technician_id as technician_day_key,
    keys.kpi_date,
    keys.technician_id,
    coalesce(visits.interventions_scheduled, 0)::bigint as interventions_scheduled,
    coalesce(visits.interventions_done, 0)::bigint as interventions_done,
    coalesce(visits.interventions_cancelled, 0)::bigint as interventions_cancelled,
    coalesce(visits.intervention_minutes_total, 0)::numeric(12, 1) as intervention_minutes_total,
    round(visits.intervention_minutes_total / nullif(visits.interventions_done, 0), 1) as avg_intervention_minutes,
    round(visits.start_delay_minutes_total / nullif(visits.interventions_done, 0), 1) as avg_start_delay_minutes,
    coalesce(visits.late_arrivals, 0)::bigint as late_arrivals,
    coalesce(visits.satisfaction_scores, 0)::bigint as satisfaction_scores,
    coalesce(visits.satisfaction_score_total, 0)::bigint as satisfaction_score_total,
    round(visits.satisfaction_score_total::numeric / nullif(visits.satisfaction_scores, 0), 2) as avg_satisfaction,
    {{ var('kpi')['csat_target'] }}::numeric as avg_satisfaction_target,
    coalesce(quotes_written.field_quotes_created, 0)::bigint as field_quotes_created,
    coalesce(quotes_written.field_quotes_created_amount_eur, 0)::numeric(14, 2) as field_quotes_created_amount_eur,
    coalesce(quotes_accepted.field_quotes_accepted, 0)::bigint as field_quotes_accepted,
    coalesce(quotes_accepted.field_quote_revenue_eur, 0)::numeric(14, 2) as field_quote_revenue_eur,
    coalesce(clocked.work_minutes, 0)::numeric(12, 1) as work_minutes,
    coalesce(clocked.travel_minutes, 0)::numeric(12, 1) as travel_minutes,
    coalesce(clocked.admin_minutes, 0)::numeric(12, 1) as admin_minutes,
    coalesce(clocked.time_entries, 0)::bigint as time_entries,
    -- "sans pointage": visits done but nothing clocked that day
    coalesce(visits.interventions_done, 0) > 0 and coalesce(clocked.time_entries, 0) = 0 as is_missing_time_entries,
    coalesce(night_calls.night_line_calls_answered, 0)::bigint as night_line_calls_answered
from keys
left join visits on keys.kpi_date = visits.kpi_date and keys.technician_id = visits.technician_id
left join quotes_written
    on keys.kpi_date = quotes_written.kpi_date and keys.technician_id = quotes_written.technician_id
left join quotes_accepted
    on keys.kpi_date = quotes_accepted.kpi_date and keys.technician_id = quotes_accepted.technician_id
left join clocked on keys.kpi_date = clocked.kpi_date and keys.technician_id = clocked.technician_id
left join night_calls on keys.kpi_date = night_calls.kpi_date and keys.technician_id = night_calls.technician_id
