-- Monthly business KPIs (spec 1.4 "KPIs business (mensuel)") and the direction dashboard's
-- monthly view, one row per calendar month, each target beside its value. Summed from
-- mart_kpi_daily's components; the cost of the service comes from the cost_assumptions seed.
with daily as (
    select
        mart_kpi_daily.*,
        days.month_start
    from {{ ref('mart_kpi_daily') }}
    inner join {{ ref('dim_date') }} as days on mart_kpi_daily.kpi_date = days.date_day
),

months as (
    select
        month_start,
        count(*) as days_covered,
        count(*) filter (where is_business_day) as business_days,
        sum(calls_per_day) as calls,
        sum(inbound_calls) as inbound_calls,
        sum(offered_calls) as offered_calls,
        sum(abandoned_calls) as abandoned_calls,
        sum(answered_within_service_level) as answered_within_service_level,
        sum(handled_calls) as handled_calls,
        sum(handle_seconds_total) as handle_seconds_total,
        sum(tickets_created) as tickets_created,
        sum(tickets_replied) as tickets_replied,
        sum(first_reply_business_hours_total) as first_reply_business_hours_total,
        sum(first_contact_resolutions) as first_contact_resolutions,
        sum(interventions_booked) as interventions_booked,
        sum(interventions_booked_online) as interventions_booked_online,
        sum(field_quotes_accepted) as field_quotes_accepted,
        sum(field_quote_revenue_eur) as field_quote_revenue_eur,
        sum(survey_invitations_sent) as survey_invitations_sent,
        sum(survey_invitations_answered) as survey_invitations_answered,
        sum(nps_responses) as nps_responses,
        sum(nps_promoters) as nps_promoters,
        sum(nps_detractors) as nps_detractors,
        sum(csat_responses) as csat_responses,
        sum(csat_score_total) as csat_score_total,
        sum(lost_customers) as lost_customers,
        sum(invoices) as invoices,
        sum(invoiced_revenue_eur) as invoiced_revenue_eur
    from daily
    group by month_start
),

-- agents who took calls on the day line during the month: the staff the month paid for
staffing as (
    select
        date_trunc('month', call_date)::date as month_start,
        count(distinct coalesce(agent_id, agent_extension)) as active_agents
    from {{ ref('fct_calls') }}
    where line = 'day' and is_answered
    group by date_trunc('month', call_date)::date
),

costs as (
    select
        months.month_start,
        assumptions.agent_loaded_hourly_cost_eur,
        assumptions.paid_hours_per_agent_month,
        assumptions.telephony_monthly_cost_eur
    from months
    cross join lateral (
        select
            candidate.agent_loaded_hourly_cost_eur,
            candidate.paid_hours_per_agent_month,
            candidate.telephony_monthly_cost_eur
        from {{ ref('cost_assumptions') }} as candidate
        where candidate.valid_from <= months.month_start
        order by candidate.valid_from desc
        limit 1
    ) as assumptions
),

measured as (
    select
        months.*,
        coalesce(staffing.active_agents, 0) as active_agents,
        -- a month the data covers in part (the first, the current one) bears its share of the cost
        (
            coalesce(staffing.active_agents, 0) * costs.paid_hours_per_agent_month * costs.agent_loaded_hourly_cost_eur
            + costs.telephony_monthly_cost_eur
        )
        * months.days_covered
        / extract(day from (months.month_start + interval '1 month' - interval '1 day')) as customer_service_cost_eur
    from months
    left join staffing on months.month_start = staffing.month_start
    left join costs on months.month_start = costs.month_start
),

compared as (
    select
        measured.*,
        measured.customer_service_cost_eur / nullif(measured.calls, 0) as cost_per_call_eur,
        lag(measured.customer_service_cost_eur / nullif(measured.calls, 0)) over (order by measured.month_start)
            as cost_per_call_previous_month_eur,
        last_year.customer_service_cost_eur / nullif(last_year.calls, 0) as cost_per_call_last_year_eur,
        sum(measured.field_quote_revenue_eur) over (
            partition by date_trunc('year', measured.month_start) order by measured.month_start
        ) as field_quote_revenue_ytd_eur,
        last_year.field_quote_revenue_eur as field_quote_revenue_last_year_eur
    from measured
    left join measured as last_year on last_year.month_start = (measured.month_start - interval '1 year')::date
)

select
    month_start,
    extract(year from month_start)::integer as year_number,
    extract(month from month_start)::integer as month_number,
    days_covered::integer as days_covered,
    days_covered = extract(day from (month_start + interval '1 month' - interval '1 day'))::integer
        as is_complete_month,
    -- CA additionnel devis terrain = SUM(devis validés via l'app) by decision month; target +10 k EUR / month
    field_quotes_accepted::bigint as field_quotes_accepted,
    field_quote_revenue_eur::numeric(14, 2) as field_quote_revenue_eur,
    {{ var('kpi')['field_quote_revenue_target_eur'] }}::numeric as field_quote_revenue_target_eur,
    field_quote_revenue_eur >= {{ var('kpi')['field_quote_revenue_target_eur'] }} as is_field_quote_revenue_on_target,
    field_quote_revenue_ytd_eur::numeric(14, 2) as field_quote_revenue_ytd_eur,
    field_quote_revenue_last_year_eur::numeric(14, 2) as field_quote_revenue_last_year_eur,
    -- Coût appel moyen = coût total service client / nb appels; target -10 % (vs the same month last year)
    active_agents::bigint as active_agents,
    round(customer_service_cost_eur::numeric, 2) as customer_service_cost_eur,
    calls::bigint as calls,
    round(cost_per_call_eur::numeric, 2) as cost_per_call_eur,
    round(cost_per_call_previous_month_eur::numeric, 2) as cost_per_call_previous_month_eur,
    round(cost_per_call_last_year_eur::numeric, 2) as cost_per_call_last_year_eur,
    round((cost_per_call_eur / nullif(cost_per_call_last_year_eur, 0) - 1)::numeric, 4)
        as cost_per_call_change_vs_last_year,
    {{ var('kpi')['cost_per_call_target_change'] }}::numeric as cost_per_call_target_change,
    coalesce(
        cost_per_call_eur / nullif(cost_per_call_last_year_eur, 0) - 1
        <= {{ var('kpi')['cost_per_call_target_change'] }},
        false
    ) as is_cost_per_call_on_target,
    -- Clients perdus / mois: customers marked lost that month; target < 2
    lost_customers::bigint as lost_customers,
    {{ var('kpi')['lost_customers_per_month_target_below'] }}::integer as lost_customers_target_below,
    lost_customers < {{ var('kpi')['lost_customers_per_month_target_below'] }} as is_lost_customers_on_target,
    -- quality, monthly (direction dashboard: 12-month satisfaction trend)
    nps_responses::bigint as nps_responses,
    round(100.0 * (nps_promoters - nps_detractors) / nullif(nps_responses, 0), 1) as nps,
    {{ var('kpi')['nps_target'] }}::numeric as nps_target,
    csat_responses::bigint as csat_responses,
    round(csat_score_total::numeric / nullif(csat_responses, 0), 2) as avg_satisfaction,
    {{ var('kpi')['csat_target'] }}::numeric as avg_satisfaction_target,
    survey_invitations_sent::bigint as survey_invitations_sent,
    round(survey_invitations_answered::numeric / nullif(survey_invitations_sent, 0), 4) as survey_response_rate,
    {{ var('kpi')['survey_response_rate_target'] }}::numeric as survey_response_rate_target,
    -- operations, monthly
    round(calls::numeric / nullif(days_covered, 0), 1) as avg_calls_per_day,
    round(calls::numeric / nullif(business_days, 0), 1) as avg_calls_per_business_day,
    round(abandoned_calls::numeric / nullif(offered_calls, 0), 4) as abandonment_rate,
    round(answered_within_service_level::numeric / nullif(offered_calls, 0), 4) as service_level,
    round(handle_seconds_total::numeric / nullif(handled_calls, 0), 1) as avg_handle_seconds,
    tickets_created::bigint as tickets_created,
    round(first_reply_business_hours_total::numeric / nullif(tickets_replied, 0), 2) as avg_first_reply_business_hours,
    round(first_contact_resolutions::numeric / nullif(tickets_created, 0), 4) as first_contact_resolution_rate,
    -- RDV pris en ligne (%), monthly
    interventions_booked::bigint as interventions_booked,
    round(interventions_booked_online::numeric / nullif(interventions_booked, 0), 4) as online_booking_share,
    invoices::bigint as invoices,
    invoiced_revenue_eur::numeric(14, 2) as invoiced_revenue_eur
from compared
