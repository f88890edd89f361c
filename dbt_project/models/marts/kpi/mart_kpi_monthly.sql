-- Monthly business KPIs (spec 1.4 "KPIs business (mensuel)") and the direction dashboard's
-- monthly view, one row per calendar month, each target beside its value. Summed from
-- mart_kpi_daily's components (the ratios are the formulas of macros/kpi.sql); the cost of the
-- service is the customer-service section of the Sage general ledger (fct_cost_entries).
with daily as (
    select
        kpi_days.*,
        days.month_start
    from {{ ref('mart_kpi_daily') }} as kpi_days
    inner join {{ ref('dim_date') }} as days on kpi_days.kpi_date = days.date_day
),

months as (
    select
        month_start,
        extract(day from (month_start + interval '1 month' - interval '1 day'))::integer as days_in_month,
        count(*) as days_covered,
        count(*) filter (where not is_complete_day) as provisional_days,
        count(*) filter (where is_calls_loaded) as days_with_calls_loaded,
        count(*) filter (where is_business_day) as business_days,
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

-- the customer-service team's costs posted so far for each accounting month
costs as (
    select
        period_month as month_start,
        sum(amount_eur) as customer_service_cost_eur
    from {{ ref('fct_cost_entries') }}
    where is_customer_service
    group by period_month
),

-- a month's ledger is final once accounting has closed every journal of it (F_JMOUV)
ledger_months as (
    select
        period_month as month_start,
        bool_and(is_closed) as is_ledger_closed
    from {{ ref('stg_erp__journal_periods') }}
    group by period_month
),

measured as (
    select
        months.*,
        coalesce(costs.customer_service_cost_eur, 0) as customer_service_cost_eur,
        coalesce(ledger_months.is_ledger_closed, false) as is_ledger_closed,
        -- cost per call only for a month whose calls are all in and whose books are closed:
        -- a month in progress would divide part of its costs by part of its calls
        months.days_covered = months.days_in_month
        and months.days_with_calls_loaded = months.days_in_month
        and coalesce(ledger_months.is_ledger_closed, false) as is_cost_per_call_final
    from months
    left join costs on months.month_start = costs.month_start
    left join ledger_months on months.month_start = ledger_months.month_start
),

priced as (
    select
        measured.*,
        case
            when measured.is_cost_per_call_final
                then {{ kpi_ratio('measured.customer_service_cost_eur', 'measured.handled_calls', 2) }}
        end as cost_per_call_eur
    from measured
),

compared as (
    select
        priced.*,
        previous_month.cost_per_call_eur as cost_per_call_previous_month_eur,
        last_year.cost_per_call_eur as cost_per_call_last_year_eur,
        sum(priced.field_quote_revenue_eur) over (
            partition by date_trunc('year', priced.month_start) order by priced.month_start
        ) as field_quote_revenue_ytd_eur,
        last_year.field_quote_revenue_eur as field_quote_revenue_last_year_eur
    from priced
    left join priced as previous_month
        on previous_month.month_start = (priced.month_start - interval '1 month')::date
    left join priced as last_year on last_year.month_start = (priced.month_start - interval '1 year')::date
)

select
    month_start,
    extract(year from month_start)::integer as year_number,
    extract(month from month_start)::integer as month_number,
    days_covered::integer as days_covered,
    days_covered = days_in_month as is_complete_month,
    -- days of the month whose figures are still provisional (mart_kpi_daily.is_complete_day)
    provisional_days::integer as provisional_days,
    -- CA additionnel devis terrain = SUM(devis validés via l'app) by decision month; target +10 k EUR / month
    field_quotes_accepted::bigint as field_quotes_accepted,
    field_quote_revenue_eur::numeric(14, 2) as field_quote_revenue_eur,
    {{ var('kpi')['field_quote_revenue_target_eur'] }}::numeric as field_quote_revenue_target_eur,
    field_quote_revenue_eur >= {{ var('kpi')['field_quote_revenue_target_eur'] }} as is_field_quote_revenue_on_target,
    field_quote_revenue_ytd_eur::numeric(14, 2) as field_quote_revenue_ytd_eur,
    field_quote_revenue_last_year_eur::numeric(14, 2) as field_quote_revenue_last_year_eur,
    -- Coût appel moyen = coût total service client (ledger, customer-service section) / calls the
    -- agents handled; target -10 % against the same month last year; null until the month is final
    customer_service_cost_eur::numeric(14, 2) as customer_service_cost_eur,
    is_ledger_closed,
    handled_calls::bigint as handled_calls,
    is_cost_per_call_final,
    cost_per_call_eur,
    cost_per_call_previous_month_eur,
    cost_per_call_last_year_eur,
    {{ kpi_ratio('cost_per_call_eur', 'cost_per_call_last_year_eur', 4) }} - 1 as cost_per_call_change_vs_last_year,
    {{ var('kpi')['cost_per_call_target_change'] }}::numeric as cost_per_call_target_change,
    coalesce(
        {{ kpi_ratio('cost_per_call_eur', 'cost_per_call_last_year_eur', 4) }} - 1
        <= {{ var('kpi')['cost_per_call_target_change'] }},
        false
    ) as is_cost_per_call_on_target,
    calls::bigint as calls,
    -- Clients perdus / mois: customers marked lost that month; target < 2
    lost_customers::bigint as lost_customers,
    {{ var('kpi')['lost_customers_per_month_target_below'] }}::integer as lost_customers_target_below,
    lost_customers < {{ var('kpi')['lost_customers_per_month_target_below'] }} as is_lost_customers_on_target,
    -- quality, monthly (direction dashboard: 12-month satisfaction trend)
    nps_responses::bigint as nps_responses,
    {{ kpi_nps() }} as nps,
    {{ var('kpi')['nps_target'] }}::numeric as nps_target,
    csat_responses::bigint as csat_responses,
    {{ kpi_avg_satisfaction() }} as avg_satisfaction,
    {{ var('kpi')['csat_target'] }}::numeric as avg_satisfaction_target,
    survey_invitations_sent::bigint as survey_invitations_sent,
    {{ kpi_survey_response_rate() }} as survey_response_rate,
    {{ var('kpi')['survey_response_rate_target'] }}::numeric as survey_response_rate_target,
    -- operations, monthly
    round(calls::numeric / nullif(days_covered, 0), 1) as avg_calls_per_day,
    round(calls::numeric / nullif(business_days, 0), 1) as avg_calls_per_business_day,
    {{ kpi_abandonment_rate() }} as abandonment_rate,
    {{ kpi_service_level() }} as service_level,
    {{ kpi_avg_handle_seconds() }} as avg_handle_seconds,
    tickets_created::bigint as tickets_created,
    {{ kpi_avg_first_reply_business_hours() }} as avg_first_reply_business_hours,
    {{ kpi_first_contact_resolution_rate() }} as first_contact_resolution_rate,
    tickets_closed::bigint as tickets_closed,
    {{ kpi_avg_resolution_business_hours() }} as avg_resolution_business_hours,
    {{ var('kpi')['resolution_target_hours'] }}::numeric as resolution_target_hours,
    {{ kpi_is_below(kpi_avg_resolution_business_hours(), var('kpi')['resolution_target_hours']) }}
        as is_avg_resolution_on_target,
    -- RDV pris en ligne (%), monthly
    interventions_booked::bigint as interventions_booked,
    {{ kpi_online_booking_share() }} as online_booking_share,
    invoices::bigint as invoices,
    invoiced_revenue_eur::numeric(14, 2) as invoiced_revenue_eur
from compared
