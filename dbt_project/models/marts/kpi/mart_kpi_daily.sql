-- Daily operational KPIs (spec 1.4 "KPIs opérationnels") and the call-centre KPIs, one row per
-- Paris calendar day from the first day of data to the as-of day, each target or alert
-- threshold beside its value. Components (counts, totals) are kept next to the ratios so the
-- weekly and monthly marts add them up instead of averaging averages; the ratios are the
-- formulas of macros/kpi.sql. A day's figures are provisional until it is complete
-- (int_kpi_days_settled); an alert waits for the figures it reads to be final.
with {{ data_days_cte() }},

days as (
    select dim_date.*
    from {{ ref('dim_date') }} as dim_date
    inner join data_days on dim_date.date_day between data_days.first_day and data_days.last_day
),

calls as (
    select
        call_date as kpi_date,
        count(*) as calls,
        count(*) filter (where is_inbound) as inbound_calls,
        count(*) filter (where not is_inbound) as outbound_calls,
        count(*) filter (where is_inbound and is_answered) as answered_calls,
        count(*) filter (where is_inbound and party_type = 'unknown') as unknown_caller_calls,
        count(*) filter (where is_offered) as offered_calls,
        count(*) filter (where is_abandoned) as abandoned_calls,
        count(*) filter (where is_offered and is_answered_within_service_level) as answered_within_service_level,
        avg(wait_seconds) filter (where is_inbound) as avg_wait_seconds,
        count(*) filter (where is_answered and line = 'day') as handled_calls,
        coalesce(sum(handle_seconds) filter (where is_answered and line = 'day'), 0) as handle_seconds_total
    from {{ ref('fct_calls') }}
    group by call_date
),

channels as (
    select * from {{ ref('dim_channel') }}
),

-- first reply: written channels only (a ticket written during a call is answered on the call)
tickets_created as (
    select
        tickets.created_date as kpi_date,
        count(*) as tickets_created,
        count(*) filter (where tickets.channel_code = 'email') as email_tickets_created,
        count(*) filter (where channels.is_written) as written_tickets_created,
        count(*) filter (where channels.is_written and tickets.first_reply_at is not null) as written_tickets_replied,
        coalesce(sum(tickets.first_reply_business_hours) filter (where channels.is_written), 0)
            as written_first_reply_business_hours_total,
        coalesce(sum(tickets.first_reply_calendar_hours) filter (where channels.is_written), 0)
            as written_first_reply_calendar_hours_total,
        count(*) filter (where tickets.is_first_reply_sla_breached) as first_reply_sla_breaches,
        count(*) filter (where tickets.is_first_contact_resolution) as first_contact_resolutions
    from {{ ref('fct_tickets') }} as tickets
    left join channels on tickets.channel_code = channels.channel_code
    group by tickets.created_date
),

tickets_closed as (
    select
        closed_date as kpi_date,
        count(*) as tickets_closed,
        coalesce(sum(resolution_business_hours), 0) as resolution_business_hours_total
    from {{ ref('fct_tickets') }}
    where is_closed
    group by closed_date
),

-- backlog at the end of each day: the days a ticket was open at midnight, and the days it had
-- been open (or unanswered) for more than 24 hours at midnight
ticket_backlog as (
    select
        backlog.backlog_day::date as kpi_date,
        count(*) as tickets_open,
        count(*) filter (
            where tickets.created_at + interval '{{ var("kpi")["ticket_open_hours_alert_after"] }} hours'
            < backlog.day_end
        ) as tickets_open_over_24h,
        count(*) filter (
            where tickets.created_at + interval '{{ var("kpi")["ticket_open_hours_alert_after"] }} hours'
            < backlog.day_end
            and coalesce(tickets.first_reply_at, 'infinity') >= backlog.day_end
        ) as tickets_unanswered_over_24h
    from {{ ref('fct_tickets') }} as tickets
    cross join data_days
    cross join
        lateral (
            select
                series.backlog_day,
                ((series.backlog_day::date + 1)::timestamp at time zone '{{ var("local_timezone") }}') as day_end
            from generate_series(
                    tickets.created_date,
                    coalesce(tickets.closed_date - 1, data_days.last_day),
                    interval '1 day'
                ) as series (backlog_day)
        ) as backlog
    group by backlog.backlog_day::date
),

bookings as (
    select
        booked_date as kpi_date,
        count(*) as interventions_booked,
        count(*) filter (where is_booked_online) as interventions_booked_online
    from {{ ref('fct_interventions') }}
    group by booked_date
),

visits as (
    select
        scheduled_date as kpi_date,
        count(*) filter (where is_done) as interventions_done,
        count(*) filter (where is_cancelled) as interventions_cancelled
    from {{ ref('fct_interventions') }}
    group by scheduled_date
),

-- "techniciens sans pointage": worked a visit that day but clocked nothing
technician_days as (
    select
        visits.scheduled_date as kpi_date,
        count(distinct visits.technician_id) filter (where entries.technician_id is null)
            as technicians_without_time_entries
    from {{ ref('fct_interventions') }} as visits
    left join {{ ref('fct_time_entries') }} as entries
        on visits.technician_id = entries.technician_id and visits.scheduled_date = entries.work_date
    where visits.is_done
    group by visits.scheduled_date
),

-- "devis en attente": quotes sent and not yet decided at the end of the day, within their validity
quotes_pending as (
    select
        pending.pending_day::date as kpi_date,
        count(*) as quotes_awaiting_decision
    from {{ ref('fct_quotes') }} as quotes
    cross join data_days
    cross join
        lateral generate_series(
            quotes.created_date,
            least(
                coalesce(quotes.decision_date - 1, data_days.last_day),
                quotes.created_date + {{ var("kpi")["quote_validity_days"] }} - 1,
                data_days.last_day
            ),
            interval '1 day'
        ) as pending (pending_day)
    group by pending.pending_day::date
),

field_revenue as (
    select
        decision_date as kpi_date,
        count(*) as field_quotes_accepted,
        sum(amount_ht) as field_quote_revenue_eur
    from {{ ref('fct_quotes') }}
    where origin = 'field' and is_accepted
    group by decision_date
),

invitations as (
    select
        sent_date as kpi_date,
        count(*) as survey_invitations_sent,
        count(*) filter (where is_answered) as survey_invitations_answered
    from {{ ref('fct_survey_responses') }}
    where is_invited
    group by sent_date
),

answers as (
    select
        response_date as kpi_date,
        count(*) filter (where survey_type = 'NPS') as nps_responses,
        count(*) filter (where nps_category = 'promoter') as nps_promoters,
        count(*) filter (where nps_category = 'detractor') as nps_detractors,
        count(*) filter (where survey_type = 'CSAT') as csat_responses,
        coalesce(sum(csat_score), 0) as csat_score_total
    from {{ ref('fct_survey_responses') }}
    where is_answered
    group by response_date
),

losses as (
    select
        lost_date as kpi_date,
        count(*) as lost_customers
    from {{ ref('dim_customer') }}
    where is_current and customer_status = 'lost'
    group by lost_date
),

settled as (
    select * from {{ ref('int_kpi_days_settled') }}
),

invoicing as (
    select
        invoice_date as kpi_date,
        count(*) filter (where document_kind = 'invoice') as invoices,
        sum(total_ht) as invoiced_revenue_eur
    from {{ ref('fct_invoices') }}
    group by invoice_date
),

joined as (
    select
        days.date_day as kpi_date,
        days.is_business_day,
        days.is_public_holiday,
        coalesce(settled.is_calls_loaded, false) as is_calls_loaded,
        coalesce(settled.tickets_awaiting_first_reply, 0) as tickets_awaiting_first_reply,
        coalesce(settled.written_tickets_awaiting_first_reply, 0) as written_tickets_awaiting_first_reply,
        coalesce(settled.tickets_still_open, 0) as tickets_still_open,
        coalesce(settled.is_first_reply_settled, false) as is_first_reply_settled,
        coalesce(settled.is_first_contact_resolution_settled, false) as is_first_contact_resolution_settled,
        coalesce(settled.is_complete_day, false) as is_complete_day,
        coalesce(calls.calls, 0) as calls,
        coalesce(calls.inbound_calls, 0) as inbound_calls,
        coalesce(calls.outbound_calls, 0) as outbound_calls,
        coalesce(calls.answered_calls, 0) as answered_calls,
        coalesce(calls.unknown_caller_calls, 0) as unknown_caller_calls,
        coalesce(calls.offered_calls, 0) as offered_calls,
        coalesce(calls.abandoned_calls, 0) as abandoned_calls,
        coalesce(calls.answered_within_service_level, 0) as answered_within_service_level,
        calls.avg_wait_seconds,
        coalesce(calls.handled_calls, 0) as handled_calls,
        coalesce(calls.handle_seconds_total, 0) as handle_seconds_total,
        coalesce(tickets_created.tickets_created, 0) as tickets_created,
        coalesce(tickets_created.email_tickets_created, 0) as email_tickets_created,
        coalesce(tickets_created.written_tickets_created, 0) as written_tickets_created,
        coalesce(tickets_created.written_tickets_replied, 0) as written_tickets_replied,
        coalesce(tickets_created.written_first_reply_business_hours_total, 0)
            as written_first_reply_business_hours_total,
        coalesce(tickets_created.written_first_reply_calendar_hours_total, 0)
            as written_first_reply_calendar_hours_total,
        coalesce(tickets_created.first_reply_sla_breaches, 0) as first_reply_sla_breaches,
        coalesce(tickets_created.first_contact_resolutions, 0) as first_contact_resolutions,
        coalesce(tickets_closed.tickets_closed, 0) as tickets_closed,
        coalesce(tickets_closed.resolution_business_hours_total, 0) as resolution_business_hours_total,
        coalesce(ticket_backlog.tickets_open, 0) as tickets_open,
        coalesce(ticket_backlog.tickets_open_over_24h, 0) as tickets_open_over_24h,
        coalesce(ticket_backlog.tickets_unanswered_over_24h, 0) as tickets_unanswered_over_24h,
        coalesce(bookings.interventions_booked, 0) as interventions_booked,
        coalesce(bookings.interventions_booked_online, 0) as interventions_booked_online,
        coalesce(visits.interventions_done, 0) as interventions_done,
        coalesce(visits.interventions_cancelled, 0) as interventions_cancelled,
        coalesce(technician_days.technicians_without_time_entries, 0) as technicians_without_time_entries,
        coalesce(quotes_pending.quotes_awaiting_decision, 0) as quotes_awaiting_decision,
        coalesce(field_revenue.field_quotes_accepted, 0) as field_quotes_accepted,
        coalesce(field_revenue.field_quote_revenue_eur, 0) as field_quote_revenue_eur,
        coalesce(invitations.survey_invitations_sent, 0) as survey_invitations_sent,
        coalesce(invitations.survey_invitations_answered, 0) as survey_invitations_answered,
        coalesce(answers.nps_responses, 0) as nps_responses,
        coalesce(answers.nps_promoters, 0) as nps_promoters,
        coalesce(answers.nps_detractors, 0) as nps_detractors,
        coalesce(answers.csat_responses, 0) as csat_responses,
        coalesce(answers.csat_score_total, 0) as csat_score_total,
        coalesce(losses.lost_customers, 0) as lost_customers,
        coalesce(invoicing.invoices, 0) as invoices,
        coalesce(invoicing.invoiced_revenue_eur, 0) as invoiced_revenue_eur
    from days
    left join calls on days.date_day = calls.kpi_date
    left join tickets_created on days.date_day = tickets_created.kpi_date
    left join tickets_closed on days.date_day = tickets_closed.kpi_date
    left join ticket_backlog on days.date_day = ticket_backlog.kpi_date
    left join bookings on days.date_day = bookings.kpi_date
    left join visits on days.date_day = visits.kpi_date
    left join technician_days on days.date_day = technician_days.kpi_date
    left join quotes_pending on days.date_day = quotes_pending.kpi_date
    left join field_revenue on days.date_day = field_revenue.kpi_date
    left join invitations on days.date_day = invitations.kpi_date
    left join answers on days.date_day = answers.kpi_date
    left join losses on days.date_day = losses.kpi_date
    left join invoicing on days.date_day = invoicing.kpi_date
    left join settled on days.date_day = settled.kpi_date
),

measured as (
    select
        joined.*,
        -- the same weekday of the four weeks before, days whose CDR file was loaded
        avg(case when joined.is_calls_loaded then joined.calls end) over (
            partition by extract(isodow from joined.kpi_date) order by joined.kpi_date
            rows between 4 preceding and 1 preceding
        ) as calls_same_weekday_avg_4w,
        {{ kpi_abandonment_rate() }} as abandonment_rate,
        {{ kpi_service_level() }} as service_level,
        {{ kpi_avg_handle_seconds() }} as avg_handle_seconds,
        {{ kpi_avg_first_reply_business_hours() }} as avg_first_reply_business_hours,
        {{ kpi_ratio('written_first_reply_calendar_hours_total', 'written_tickets_replied', 2) }}
            as avg_first_reply_calendar_hours,
        {{ kpi_first_contact_resolution_rate() }} as first_contact_resolution_rate,
        {{ kpi_avg_resolution_business_hours() }} as avg_resolution_business_hours,
        {{ kpi_online_booking_share() }} as online_booking_share
    from joined
)

select
    kpi_date,
    is_business_day,
    is_public_holiday,
    -- completeness at the run's as-of instant (int_kpi_days_settled): provisional days raise no alert
    is_complete_day,
    is_calls_loaded,
    tickets_awaiting_first_reply::bigint as tickets_awaiting_first_reply,
    written_tickets_awaiting_first_reply::bigint as written_tickets_awaiting_first_reply,
    tickets_still_open::bigint as tickets_still_open,
    -- Volume appels/jour: COUNT(appels) WHERE DATE = day; alert above 70 once the day's CDR file is in
    calls::bigint as calls_per_day,
    {{ var('kpi')['calls_per_day_alert_above'] }}::integer as calls_per_day_alert_threshold,
    is_calls_loaded and calls > {{ var('kpi')['calls_per_day_alert_above'] }} as is_call_overload,
    -- Pic d'appels inhabituel (spec 3.2: +30 % vs la moyenne), business days against the same weekday
    round(calls_same_weekday_avg_4w::numeric, 1) as calls_same_weekday_avg_4w,
    {{ var('kpi')['unusual_call_peak_ratio'] }}::numeric as unusual_call_peak_ratio,
    is_calls_loaded and is_business_day
    and {{ kpi_is_above('calls', 'calls_same_weekday_avg_4w * ' ~ var('kpi')['unusual_call_peak_ratio']) }}
        as is_unusual_call_peak,
    inbound_calls::bigint as inbound_calls,
    outbound_calls::bigint as outbound_calls,
    answered_calls::bigint as answered_calls,
    unknown_caller_calls::bigint as unknown_caller_calls,
    round(avg_wait_seconds::numeric, 1) as avg_wait_seconds,
    -- call centre: abandonment, service level (answered within 20 s), average handle time
    offered_calls::bigint as offered_calls,
    abandoned_calls::bigint as abandoned_calls,
    abandonment_rate,
    {{ var('kpi')['abandonment_rate_alert_above'] }}::numeric as abandonment_rate_alert_threshold,
    is_calls_loaded
    and {{ kpi_is_above('abandonment_rate', var('kpi')['abandonment_rate_alert_above']) }} as is_abandonment_rate_alert,
    answered_within_service_level::bigint as answered_within_service_level,
    service_level,
    {{ var('kpi')['service_level_seconds'] }}::integer as service_level_seconds,
    {{ var('kpi')['service_level_target'] }}::numeric as service_level_target,
    handled_calls::bigint as handled_calls,
    handle_seconds_total::bigint as handle_seconds_total,
    avg_handle_seconds,
    -- tickets created that day: Temps réponse moyen on the written channels (target 4 business hours)
    -- and Taux résolution 1er contact on every ticket (70 %); each alert waits for its tickets to settle
    tickets_created::bigint as tickets_created,
    email_tickets_created::bigint as email_tickets_created,
    written_tickets_created::bigint as written_tickets_created,
    written_tickets_replied::bigint as written_tickets_replied,
    round(written_first_reply_business_hours_total::numeric, 4) as written_first_reply_business_hours_total,
    round(written_first_reply_calendar_hours_total::numeric, 4) as written_first_reply_calendar_hours_total,
    avg_first_reply_business_hours,
    avg_first_reply_calendar_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as first_reply_target_hours,
    is_first_reply_settled
    and {{ kpi_is_above('avg_first_reply_business_hours', var('kpi')['first_reply_target_hours']) }}
        as is_first_reply_alert,
    first_reply_sla_breaches::bigint as first_reply_sla_breaches,
    first_contact_resolutions::bigint as first_contact_resolutions,
    first_contact_resolution_rate,
    {{ var('kpi')['first_contact_resolution_target'] }}::numeric as first_contact_resolution_target,
    is_first_contact_resolution_settled
    and {{ kpi_is_below('first_contact_resolution_rate', var('kpi')['first_contact_resolution_target']) }}
        as is_first_contact_resolution_alert,
    -- tickets closed that day: Temps résolution moyen (created -> closed, business hours; target 4)
    tickets_closed::bigint as tickets_closed,
    round(resolution_business_hours_total::numeric, 4) as resolution_business_hours_total,
    avg_resolution_business_hours,
    {{ var('kpi')['resolution_target_hours'] }}::numeric as resolution_target_hours,
    {{ kpi_is_below('avg_resolution_business_hours', var('kpi')['resolution_target_hours']) }}
        as is_avg_resolution_on_target,
    -- backlog at the end of the day: Tickets > 24h (alert above 5)
    tickets_open::bigint as tickets_open,
    tickets_open_over_24h::bigint as tickets_open_over_24h,
    {{ var('kpi')['tickets_open_over_24h_alert_above'] }}::integer as tickets_open_over_24h_alert_threshold,
    tickets_open_over_24h > {{ var('kpi')['tickets_open_over_24h_alert_above'] }} as is_tickets_open_over_24h_alert,
    tickets_unanswered_over_24h::bigint as tickets_unanswered_over_24h,
    -- RDV pris en ligne (%): visits booked through the portal / all visits booked that day
    interventions_booked::bigint as interventions_booked,
    interventions_booked_online::bigint as interventions_booked_online,
    online_booking_share,
    interventions_done::bigint as interventions_done,
    interventions_cancelled::bigint as interventions_cancelled,
    technicians_without_time_entries::bigint as technicians_without_time_entries,
    quotes_awaiting_decision::bigint as quotes_awaiting_decision,
    field_quotes_accepted::bigint as field_quotes_accepted,
    field_quote_revenue_eur::numeric(14, 2) as field_quote_revenue_eur,
    -- survey components (NPS and CSAT by answer day, response rate by sending day)
    survey_invitations_sent::bigint as survey_invitations_sent,
    survey_invitations_answered::bigint as survey_invitations_answered,
    nps_responses::bigint as nps_responses,
    nps_promoters::bigint as nps_promoters,
    nps_detractors::bigint as nps_detractors,
    csat_responses::bigint as csat_responses,
    csat_score_total::bigint as csat_score_total,
    lost_customers::bigint as lost_customers,
    invoices::bigint as invoices,
    invoiced_revenue_eur::numeric(14, 2) as invoiced_revenue_eur
from measured
