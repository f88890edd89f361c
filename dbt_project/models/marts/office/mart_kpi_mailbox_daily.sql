-- The operations dashboard's mail tile (spec 1.3, dashboard 2) per day: e-mails received, handled,
-- waiting at the end of the day and the average response time against the 4-hour target (the
-- same "temps de réponse moyen" target as the tickets'). Choices: DECISIONLOG.md, "Mail tile".
with emails as (
    select * from {{ ref('fct_emails') }}
    where is_counted
),

days as (
    select
        date_day as kpi_date,
        is_business_day
    from {{ ref('dim_date') }}
    where date_day between (select min(emails.received_date) from emails) and {{ data_as_of_date() }}
),

received as (
    select
        received_date as kpi_date,
        count(*) as emails_received,
        count(*) filter (where sender_type = 'customer') as emails_received_from_customers,
        count(*) filter (where is_ticket_opener) as emails_opening_tickets
    from emails
    group by received_date
),

handled as (
    select
        handled_date as kpi_date,
        count(*) as emails_handled,
        sum(response_business_hours) as response_business_hours_total,
        sum(response_calendar_hours) as response_calendar_hours_total
    from emails
    where is_handled
    group by handled_date
),

daily as (
    select
        days.kpi_date,
        days.is_business_day,
        coalesce(received.emails_received, 0) as emails_received,
        coalesce(received.emails_received_from_customers, 0) as emails_received_from_customers,
        coalesce(received.emails_opening_tickets, 0) as emails_opening_tickets,
        coalesce(handled.emails_handled, 0) as emails_handled,
        coalesce(handled.response_business_hours_total, 0) as response_business_hours_total,
        coalesce(handled.response_calendar_hours_total, 0) as response_calendar_hours_total
    from days
    left join received on days.kpi_date = received.kpi_date
    left join handled on days.kpi_date = handled.kpi_date
)

select
    kpi_date,
    is_business_day,
    emails_received::bigint as emails_received,
    emails_received_from_customers::bigint as emails_received_from_customers,
    emails_opening_tickets::bigint as emails_opening_tickets,
    emails_handled::bigint as emails_handled,
    -- the stock at midnight: received by then and not handled by then
    (sum(emails_received) over running_total - sum(emails_handled) over running_total)::bigint as emails_waiting,
    round(response_business_hours_total::numeric, 4) as response_business_hours_total,
    round((response_business_hours_total / nullif(emails_handled, 0))::numeric, 2) as avg_response_business_hours,
    round((response_calendar_hours_total / nullif(emails_handled, 0))::numeric, 2) as avg_response_calendar_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as response_target_hours,
    coalesce(
        response_business_hours_total / nullif(emails_handled, 0) > {{ var('kpi')['first_reply_target_hours'] }},
        false
    ) as is_response_time_alert
from daily
window running_total as (order by kpi_date rows between unbounded preceding and current row)
