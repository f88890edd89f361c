-- Weekly quality KPIs (spec 1.4 "KPIs qualité (hebdomadaire)") and the week's operational
-- and call-centre figures, one row per ISO week (Monday to Sunday), each target beside its
-- value. Summed from mart_kpi_daily's components, so a week equals the sum of its days; the
-- ratios are the formulas of macros/kpi.sql.
with daily as (
    select
        kpi_days.*,
        days.week_start,
        days.iso_year,
        days.iso_week
    from {{ ref('mart_kpi_daily') }} as kpi_days
    inner join {{ ref('dim_date') }} as days on kpi_days.kpi_date = days.date_day
),

weeks as (
    select
        week_start,
        min(iso_year) as iso_year,
        min(iso_week) as iso_week,
        count(*) as days_covered,
        count(*) filter (where not is_complete_day) as provisional_days,
        count(*) filter (where is_business_day) as business_days,
        max(kpi_date) as last_day,
        sum(calls_per_day) as calls,
        sum(inbound_calls) as inbound_calls,
        sum(answered_calls) as answered_calls,
        sum(offered_calls) as offered_calls,
        sum(abandoned_calls) as abandoned_calls,
        sum(answered_within_service_level) as answered_within_service_level,
        sum(handled_calls) as handled_calls,
        sum(handle_seconds_total) as handle_seconds_total,
        sum(tickets_created) as tickets_created,
        sum(written_tickets_created) as written_tickets_created,
        sum(written_tickets_replied) as written_tickets_replied,
        sum(written_first_reply_business_hours_total) as written_first_reply_business_hours_total,
        sum(first_contact_resolutions) as first_contact_resolutions,
        sum(tickets_closed) as tickets_closed,
        sum(resolution_business_hours_total) as resolution_business_hours_total,
        sum(email_tickets_created) as email_tickets_created,
        sum(interventions_booked) as interventions_booked,
        sum(interventions_booked_online) as interventions_booked_online,
        sum(interventions_done) as interventions_done,
        sum(field_quotes_accepted) as field_quotes_accepted,
        sum(field_quote_revenue_eur) as field_quote_revenue_eur,
        sum(survey_invitations_sent) as survey_invitations_sent,
        sum(survey_invitations_answered) as survey_invitations_answered,
        sum(nps_responses) as nps_responses,
        sum(nps_promoters) as nps_promoters,
        sum(nps_detractors) as nps_detractors,
        sum(csat_responses) as csat_responses,
        sum(csat_score_total) as csat_score_total,
        sum(lost_customers) as lost_customers
    from daily
    group by week_start
),

week_end as (
    -- backlog figures are stocks: the value at the end of the last day covered
    select distinct on (week_start)
        week_start,
        tickets_open,
        tickets_open_over_24h
    from daily
    order by week_start, kpi_date desc
),

measured as (
    select
        weeks.*,
        week_end.tickets_open as tickets_open_at_week_end,
        week_end.tickets_open_over_24h as tickets_open_over_24h_at_week_end,
        {{ kpi_nps('weeks') }} as nps,
        {{ kpi_avg_satisfaction('weeks') }} as avg_satisfaction,
        {{ kpi_survey_response_rate('weeks') }} as survey_response_rate,
        {{ kpi_abandonment_rate('weeks') }} as abandonment_rate,
        {{ kpi_service_level('weeks') }} as service_level,
        {{ kpi_avg_handle_seconds('weeks') }} as avg_handle_seconds,
        {{ kpi_avg_first_reply_business_hours('weeks') }} as avg_first_reply_business_hours,
        {{ kpi_avg_resolution_business_hours('weeks') }} as avg_resolution_business_hours,
        {{ kpi_first_contact_resolution_rate('weeks') }} as first_contact_resolution_rate,
        {{ kpi_online_booking_share('weeks') }} as online_booking_share
    from weeks
    inner join week_end on weeks.week_start = week_end.week_start
)

select
    week_start,
    iso_year,
    iso_week,
    iso_year::text || '-W' || lpad(iso_week::text, 2, '0') as iso_week_label,
    days_covered::integer as days_covered,
    days_covered = 7 as is_complete_week,
    -- days of the week whose figures are still provisional (mart_kpi_daily.is_complete_day)
    provisional_days::integer as provisional_days,
    -- NPS = (promoteurs - détracteurs) / répondants x 100; target > 40
    nps_responses::bigint as nps_responses,
    nps_promoters::bigint as nps_promoters,
    nps_detractors::bigint as nps_detractors,
    nps,
    {{ var('kpi')['nps_target'] }}::numeric as nps_target,
    {{ kpi_is_above('nps', var('kpi')['nps_target']) }} as is_nps_on_target,
    -- Satisfaction moyenne = AVG(note CSAT 1-5); target > 4/5
    csat_responses::bigint as csat_responses,
    avg_satisfaction,
    {{ var('kpi')['csat_target'] }}::numeric as avg_satisfaction_target,
    {{ kpi_is_above('avg_satisfaction', var('kpi')['csat_target']) }} as is_avg_satisfaction_on_target,
    -- Taux réponse questionnaire = réponses / envois (surveys sent that week); target > 60%
    survey_invitations_sent::bigint as survey_invitations_sent,
    survey_invitations_answered::bigint as survey_invitations_answered,
    survey_response_rate,
    {{ var('kpi')['survey_response_rate_target'] }}::numeric as survey_response_rate_target,
    {{ kpi_is_above('survey_response_rate', var('kpi')['survey_response_rate_target']) }}
        as is_survey_response_rate_on_target,
    -- Clients perdus (counted in the week; the monthly mart holds the monthly target)
    lost_customers::bigint as lost_customers,
    -- the week's operations
    calls::bigint as calls,
    round(calls::numeric / nullif(business_days, 0), 1) as avg_calls_per_business_day,
    inbound_calls::bigint as inbound_calls,
    answered_calls::bigint as answered_calls,
    offered_calls::bigint as offered_calls,
    abandoned_calls::bigint as abandoned_calls,
    abandonment_rate,
    service_level,
    {{ var('kpi')['service_level_target'] }}::numeric as service_level_target,
    avg_handle_seconds,
    tickets_created::bigint as tickets_created,
    tickets_closed::bigint as tickets_closed,
    tickets_open_at_week_end::bigint as tickets_open_at_week_end,
    tickets_open_over_24h_at_week_end::bigint as tickets_open_over_24h_at_week_end,
    email_tickets_created::bigint as email_tickets_created,
    written_tickets_created::bigint as written_tickets_created,
    written_tickets_replied::bigint as written_tickets_replied,
    -- Temps réponse moyen (written channels) and Temps résolution moyen (tickets closed in the week)
    avg_first_reply_business_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as first_reply_target_hours,
    avg_resolution_business_hours,
    {{ var('kpi')['resolution_target_hours'] }}::numeric as resolution_target_hours,
    {{ kpi_is_below('avg_resolution_business_hours', var('kpi')['resolution_target_hours']) }}
        as is_avg_resolution_on_target,
    first_contact_resolution_rate,
    {{ var('kpi')['first_contact_resolution_target'] }}::numeric as first_contact_resolution_target,
    interventions_booked::bigint as interventions_booked,
    online_booking_share,
    interventions_done::bigint as interventions_done,
    field_quotes_accepted::bigint as field_quotes_accepted,
    field_quote_revenue_eur::numeric(14, 2) as field_quote_revenue_eur
from measured
