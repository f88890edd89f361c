-- Tickets open now, as the CRM holds them (staging views over raw_crm, refreshed every 15
-- minutes by the intraday DAG), with the instant each one reaches the "Tickets > 24h" age
-- (ticket_open_hours_alert_after): the real-time alerts compare it with their run's instant.
with tickets as (
    select * from {{ ref('stg_crm__tickets') }}
    where not is_archived and not is_closed
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
)

select
    tickets.ticket_id,
    tickets.contact_id,
    tickets.owner_id,
    tickets.subject,
    tickets.priority,
    tickets.category_code,
    tickets.channel_code,
    tickets.ticket_status,
    tickets.created_at,
    tickets.first_reply_at,
    tickets.first_reply_at is null as is_unanswered,
    coalesce(
        contacts.company_name,
        nullif(concat_ws(' ', contacts.first_name, contacts.last_name), ''),
        'contact ' || tickets.contact_id
    ) as customer_name,
    coalesce(contacts.is_vip, false) as is_vip,
    {{ var('kpi')['ticket_open_hours_alert_after'] }}::integer as ticket_open_hours_alert_after,
    tickets.created_at + interval '{{ var("kpi")["ticket_open_hours_alert_after"] }} hours' as alert_age_reached_at,
    {{ var('kpi')['tickets_open_over_24h_alert_above'] }}::integer as tickets_open_over_24h_alert_threshold
from tickets
left join contacts on tickets.contact_id = contacts.contact_id
