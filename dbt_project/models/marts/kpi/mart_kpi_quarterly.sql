-- Quarterly KPIs for the strategic report (spec 3.1 "Trimestriel stratégique": évolution des
-- KPIs, benchmark, recommandations), one row per calendar quarter, each target beside its
-- value. Summed from mart_kpi_daily's components like the weekly and monthly marts (the ratios
-- are the formulas of macros/kpi.sql); the cost of the service from mart_kpi_monthly, final only
-- when its three months are. The calendar's counts (business days, public holidays) sit beside
-- the volumes: they are the first driver of a change in calls between two quarters.
with daily as (
    select
        kpi_days.*,
        days.quarter_start
    from {{ ref('mart_kpi_daily') }} as kpi_days
    inner join {{ ref('dim_date') }} as days on kpi_days.kpi_date = days.date_day
),

quarters as (
    select
        quarter_start,
        count(*) as days_covered,
        count(*) filter (where not is_complete_day) as provisional_days,
        count(*) filter (where is_business_day) as business_days,
        count(*) filter (where is_public_holiday) as public_holidays,
        count(*) filter (where is_unusual_call_peak) as unusual_call_peak_days,
        count(*) filter (where is_call_overload) as call_overload_days,
        sum(calls_per_day) as calls,
        sum(inbound_calls) as inbound_calls,
        sum(offered_calls) as offered_calls,
        sum(abandoned_calls) as abandoned_calls,
        sum(answered_within_service_level) as answered_within_service_level,
        sum(handled_calls) as handled_calls,
        sum(handle_seconds_total) as handle_seconds_total,
        sum(tickets_created) as tickets_created,
        sum(written_tickets_replied) as written_tickets_replied,
        sum(written_first_reply_business_hours_total) as written_first_reply_business_hours_total,
        sum(first_contact_resolutions) as first_contact_resolutions,
        sum(tickets_closed) as tickets_closed,
        sum(resolution_business_hours_total) as resolution_business_hours_total,
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
        sum(lost_customers) as lost_customers,
        sum(invoiced_revenue_eur) as invoiced_revenue_eur
    from daily
    group by quarter_start
),

-- the ledger's cost of the service, final for a quarter only when its three months are
quarter_costs as (
    select
        date_trunc('quarter', month_start)::date as quarter_start,
        sum(customer_service_cost_eur) as customer_service_cost_eur,
        sum(handled_calls) as handled_calls_costed,
        count(*) = 3 and bool_and(is_cost_per_call_final) as is_cost_per_call_final
    from {{ ref('mart_kpi_monthly') }}
    group by date_trunc('quarter', month_start)
),

measured as (
    select
        quarters.*,
        (quarters.quarter_start + interval '3 months')::date - quarters.quarter_start as days_in_quarter,
        coalesce(quarter_costs.customer_service_cost_eur, 0) as customer_service_cost_eur,
        coalesce(quarter_costs.is_cost_per_call_final, false) as is_cost_per_call_final,
        case
            when quarter_costs.is_cost_per_call_final
                then {{ kpi_ratio('quarter_costs.customer_service_cost_eur', 'quarter_costs.handled_calls_costed', 2) }}
        end as cost_per_call_eur,
        {{ kpi_nps('quarters') }} as nps,
        {{ kpi_avg_satisfaction('quarters') }} as avg_satisfaction,
        {{ kpi_survey_response_rate('quarters') }} as survey_response_rate,
        {{ kpi_abandonment_rate('quarters') }} as abandonment_rate,
        {{ kpi_service_level('quarters') }} as service_level,
        {{ kpi_avg_handle_seconds('quarters') }} as avg_handle_seconds,
        {{ kpi_avg_first_reply_business_hours('quarters') }} as avg_first_reply_business_hours,
        {{ kpi_avg_resolution_business_hours('quarters') }} as avg_resolution_business_hours,
        {{ kpi_first_contact_resolution_rate('quarters') }} as first_contact_resolution_rate,
        {{ kpi_online_booking_share('quarters') }} as online_booking_share
    from quarters
    left join quarter_costs on quarters.quarter_start = quarter_costs.quarter_start
)

select
    quarter_start,
    extract(year from quarter_start)::integer as year_number,
    extract(quarter from quarter_start)::integer as quarter_number,
    'T' || extract(quarter from quarter_start)::text || ' ' || extract(year from quarter_start)::text
        as quarter_label,
    days_covered::integer as days_covered,
    days_covered = days_in_quarter as is_complete_quarter,
    provisional_days::integer as provisional_days,
    business_days::integer as business_days,
    public_holidays::integer as public_holidays,
    unusual_call_peak_days::integer as unusual_call_peak_days,
    call_overload_days::integer as call_overload_days,
    -- volumes
    calls::bigint as calls,
    round(calls::numeric / nullif(business_days, 0), 1) as avg_calls_per_business_day,
    inbound_calls::bigint as inbound_calls,
    handled_calls::bigint as handled_calls,
    tickets_created::bigint as tickets_created,
    tickets_closed::bigint as tickets_closed,
    interventions_done::bigint as interventions_done,
    -- quality (spec 1.4 targets)
    nps_responses::bigint as nps_responses,
    nps,
    {{ var('kpi')['nps_target'] }}::numeric as nps_target,
    {{ kpi_is_above('nps', var('kpi')['nps_target']) }} as is_nps_on_target,
    csat_responses::bigint as csat_responses,
    avg_satisfaction,
    {{ var('kpi')['csat_target'] }}::numeric as avg_satisfaction_target,
    {{ kpi_is_above('avg_satisfaction', var('kpi')['csat_target']) }} as is_avg_satisfaction_on_target,
    survey_invitations_sent::bigint as survey_invitations_sent,
    survey_response_rate,
    {{ var('kpi')['survey_response_rate_target'] }}::numeric as survey_response_rate_target,
    {{ kpi_is_above('survey_response_rate', var('kpi')['survey_response_rate_target']) }}
        as is_survey_response_rate_on_target,
    lost_customers::bigint as lost_customers,
    -- the monthly target (< 2 lost customers a month) over the quarter's three months
    3 * {{ var('kpi')['lost_customers_per_month_target_below'] }}::integer as lost_customers_target_below,
    lost_customers < 3 * {{ var('kpi')['lost_customers_per_month_target_below'] }} as is_lost_customers_on_target,
    -- operations
    abandonment_rate,
    {{ var('kpi')['abandonment_rate_alert_above'] }}::numeric as abandonment_rate_alert_threshold,
    service_level,
    {{ var('kpi')['service_level_target'] }}::numeric as service_level_target,
    coalesce(service_level >= {{ var('kpi')['service_level_target'] }}, false) as is_service_level_on_target,
    avg_handle_seconds,
    avg_first_reply_business_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as first_reply_target_hours,
    {{ kpi_is_below('avg_first_reply_business_hours', var('kpi')['first_reply_target_hours']) }}
        as is_first_reply_on_target,
    avg_resolution_business_hours,
    {{ var('kpi')['resolution_target_hours'] }}::numeric as resolution_target_hours,
    {{ kpi_is_below('avg_resolution_business_hours', var('kpi')['resolution_target_hours']) }}
        as is_avg_resolution_on_target,
    first_contact_resolution_rate,
    {{ var('kpi')['first_contact_resolution_target'] }}::numeric as first_contact_resolution_target,
    -- spec 1.4 alerts under 70 %: 70 % itself is on target
    coalesce(first_contact_resolution_rate >= {{ var('kpi')['first_contact_resolution_target'] }}, false)
        as is_first_contact_resolution_on_target,
    online_booking_share,
    -- business
    field_quotes_accepted::bigint as field_quotes_accepted,
    field_quote_revenue_eur::numeric(14, 2) as field_quote_revenue_eur,
    -- the monthly target (+10 k EUR a month) over the quarter
    3 * {{ var('kpi')['field_quote_revenue_target_eur'] }}::numeric as field_quote_revenue_target_eur,
    field_quote_revenue_eur >= 3 * {{ var('kpi')['field_quote_revenue_target_eur'] }}
        as is_field_quote_revenue_on_target,
    customer_service_cost_eur::numeric(14, 2) as customer_service_cost_eur,
    is_cost_per_call_final,
    cost_per_call_eur,
    invoiced_revenue_eur::numeric(14, 2) as invoiced_revenue_eur
from measured
