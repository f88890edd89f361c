-- Weekly quality KPIs (spec 1.4 "KPIs qualité (hebdomadaire)") and the week's operational
-- and call-centre figures, one row per ISO week (Monday to Sunday), each target beside its
-- value. Summed from mart_kpi_daily's components, so a week equals the sum of its days.
with daily as (
    select
        mart_kpi_daily.*,
        days.week_start,
        days.iso_year,
        days.iso_week
    from {{ ref('mart_kpi_daily') }}
    inner join {{ ref('dim_date') }} as days on mart_kpi_daily.kpi_date = days.date_day
),

weeks as (
    select
        week_start,
        min(iso_year) as iso_year,
        min(iso_week) as iso_week,
        count(*) as days_covered,
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
        sum(tickets_replied) as tickets_replied,
        sum(first_reply_business_hours_total) as first_reply_business_hours_total,
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
)

select
    weeks.week_start,
    weeks.iso_year,
    weeks.iso_week,
    weeks.iso_year::text || '-W' || lpad(weeks.iso_week::text, 2, '0') as iso_week_label,
    weeks.days_covered::integer as days_covered,
    weeks.days_covered = 7 as is_complete_week,
    -- NPS = (promoteurs - détracteurs) / répondants x 100; target > 40
    weeks.nps_responses::bigint as nps_responses,
    weeks.nps_promoters::bigint as nps_promoters,
    weeks.nps_detractors::bigint as nps_detractors,
    round(100.0 * (weeks.nps_promoters - weeks.nps_detractors) / nullif(weeks.nps_responses, 0), 1) as nps,
    {{ var('kpi')['nps_target'] }}::numeric as nps_target,
    coalesce(
        100.0 * (weeks.nps_promoters - weeks.nps_detractors) / nullif(weeks.nps_responses, 0)
        > {{ var('kpi')['nps_target'] }},
        false
    ) as is_nps_on_target,
    -- Satisfaction moyenne = AVG(note CSAT 1-5); target > 4/5
    weeks.csat_responses::bigint as csat_responses,
    round(weeks.csat_score_total::numeric / nullif(weeks.csat_responses, 0), 2) as avg_satisfaction,
    {{ var('kpi')['csat_target'] }}::numeric as avg_satisfaction_target,
    coalesce(weeks.csat_score_total::numeric / nullif(weeks.csat_responses, 0) > {{ var('kpi')['csat_target'] }}, false)
        as is_avg_satisfaction_on_target,
    -- Taux réponse questionnaire = réponses / envois (surveys sent that week); target > 60%
    weeks.survey_invitations_sent::bigint as survey_invitations_sent,
    weeks.survey_invitations_answered::bigint as survey_invitations_answered,
    round(weeks.survey_invitations_answered::numeric / nullif(weeks.survey_invitations_sent, 0), 4)
        as survey_response_rate,
    {{ var('kpi')['survey_response_rate_target'] }}::numeric as survey_response_rate_target,
    coalesce(
        weeks.survey_invitations_answered::numeric / nullif(weeks.survey_invitations_sent, 0)
        > {{ var('kpi')['survey_response_rate_target'] }},
        false
    ) as is_survey_response_rate_on_target,
    -- Clients perdus (counted in the week; the monthly mart holds the monthly target)
    weeks.lost_customers::bigint as lost_customers,
    -- the week's operations
    weeks.calls::bigint as calls,
    round(weeks.calls::numeric / nullif(weeks.business_days, 0), 1) as avg_calls_per_business_day,
    weeks.inbound_calls::bigint as inbound_calls,
    weeks.answered_calls::bigint as answered_calls,
    weeks.offered_calls::bigint as offered_calls,
    weeks.abandoned_calls::bigint as abandoned_calls,
    round(weeks.abandoned_calls::numeric / nullif(weeks.offered_calls, 0), 4) as abandonment_rate,
    round(weeks.answered_within_service_level::numeric / nullif(weeks.offered_calls, 0), 4) as service_level,
    {{ var('kpi')['service_level_target'] }}::numeric as service_level_target,
    round(weeks.handle_seconds_total::numeric / nullif(weeks.handled_calls, 0), 1) as avg_handle_seconds,
    weeks.tickets_created::bigint as tickets_created,
    weeks.tickets_closed::bigint as tickets_closed,
    week_end.tickets_open::bigint as tickets_open_at_week_end,
    week_end.tickets_open_over_24h::bigint as tickets_open_over_24h_at_week_end,
    weeks.email_tickets_created::bigint as email_tickets_created,
    round(weeks.first_reply_business_hours_total::numeric / nullif(weeks.tickets_replied, 0), 2)
        as avg_first_reply_business_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as first_reply_target_hours,
    round(weeks.resolution_business_hours_total::numeric / nullif(weeks.tickets_closed, 0), 2)
        as avg_resolution_business_hours,
    round(weeks.first_contact_resolutions::numeric / nullif(weeks.tickets_created, 0), 4)
        as first_contact_resolution_rate,
    {{ var('kpi')['first_contact_resolution_target'] }}::numeric as first_contact_resolution_target,
    weeks.interventions_booked::bigint as interventions_booked,
    round(weeks.interventions_booked_online::numeric / nullif(weeks.interventions_booked, 0), 4)
        as online_booking_share,
    weeks.interventions_done::bigint as interventions_done,
    weeks.field_quotes_accepted::bigint as field_quotes_accepted,
    weeks.field_quote_revenue_eur::numeric(14, 2) as field_quote_revenue_eur
from weeks
inner join week_end on weeks.week_start = week_end.week_start
