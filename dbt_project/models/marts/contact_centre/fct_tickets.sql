{{ config(unique_key='ticket_id', pre_hook="{{ delete_archived('ticket_id', 'crm', 'tickets') }}") }}

-- One row per ticket: first reply and resolution times in calendar and business hours
-- (Mon-Fri 08:00-18:00 Paris, French holidays closed), first-contact resolution, reopens and
-- SLA breaches against the specification's targets. Open tickets are measured up to the end
-- of the as-of day and re-merged on every run until they close. A close date before the
-- creation (a merged ticket, a hand-typed date, a skewed clock) is impossible: the ticket is
-- flagged, its recorded close kept aside, its close set to its creation (the earliest it can
-- have closed: it leaves no backlog behind) and no resolution time derived from it.
with tickets as (
    select * from {{ ref('stg_crm__tickets') }}
    where not is_archived
        and (
            {{ incremental_window() }}
            {%- if is_incremental() %}
                or ticket_id in (
                    select open_ticket.ticket_id
                    from {{ this }} as open_ticket
                    where not open_ticket.is_closed
                )
            {%- endif %}
        )
),

identities as (
    select * from {{ ref('int_customer_identities_matched') }}
    where source_system = 'crm'
),

as_of as (
    select {{ data_as_of_end() }} as as_of_at
),

checked as (
    select
        tickets.*,
        coalesce(tickets.closed_at < tickets.created_at, false) as is_closed_before_created,
        case when tickets.closed_at < tickets.created_at then tickets.created_at else tickets.closed_at end
            as valid_closed_at,
        case when tickets.closed_at >= tickets.created_at then tickets.closed_at end as measurable_closed_at
    from tickets
),

measured as (
    select
        tickets.ticket_id,
        identities.customer_id,
        tickets.contact_id,
        tickets.owner_id as agent_id,
        tickets.category_code,
        tickets.channel_code,
        tickets.priority,
        tickets.ticket_status,
        tickets.is_closed,
        tickets.created_at,
        {{ local_date('tickets.created_at') }} as created_date,
        tickets.first_reply_at,
        tickets.valid_closed_at as closed_at,
        {{ local_date('tickets.valid_closed_at') }} as closed_date,
        coalesce(tickets.reply_count, 0) as reply_count,
        coalesce(tickets.reopen_count, 0) as reopen_count,
        {{ seconds_between('tickets.created_at', 'tickets.first_reply_at') }} / 3600.0 as first_reply_calendar_hours,
        {{ business_seconds_between('tickets.created_at', 'tickets.first_reply_at') }} / 3600.0
            as first_reply_business_hours,
        {{ seconds_between('tickets.created_at', 'tickets.measurable_closed_at') }} / 3600.0
            as resolution_calendar_hours,
        {{ business_seconds_between('tickets.created_at', 'tickets.measurable_closed_at') }} / 3600.0
            as resolution_business_hours,
        -- how long a ticket has been waiting, for those still open at the end of the as-of day
        case when not tickets.is_closed then {{ seconds_between('tickets.created_at', 'as_of.as_of_at') }} / 3600.0 end
            as open_age_calendar_hours,
        case
            when tickets.first_reply_at is null
                then {{ business_seconds_between('tickets.created_at', 'as_of.as_of_at') }} / 3600.0
        end as unanswered_business_hours,
        tickets.batch_id,
        tickets.loaded_at,
        tickets.is_closed_before_created,
        tickets.closed_at as recorded_closed_at
    from checked as tickets
    cross join as_of
    left join identities on tickets.contact_id = identities.source_record_id
)

select
    ticket_id,
    customer_id,
    contact_id,
    agent_id,
    category_code,
    channel_code,
    priority,
    ticket_status,
    is_closed,
    created_at,
    created_date,
    first_reply_at,
    closed_at,
    closed_date,
    reply_count,
    reopen_count,
    round(first_reply_calendar_hours::numeric, 4) as first_reply_calendar_hours,
    round(first_reply_business_hours::numeric, 4) as first_reply_business_hours,
    round(resolution_calendar_hours::numeric, 4) as resolution_calendar_hours,
    round(resolution_business_hours::numeric, 4) as resolution_business_hours,
    round(open_age_calendar_hours::numeric, 4) as open_age_calendar_hours,
    -- resolved at first contact: closed by the first reply, never reopened
    is_closed and reply_count = 1 and reopen_count = 0 as is_first_contact_resolution,
    reopen_count > 0 as is_reopened,
    {{ var('kpi')['first_reply_target_hours'] }} as first_reply_target_business_hours,
    coalesce(
        first_reply_business_hours > {{ var('kpi')['first_reply_target_hours'] }},
        unanswered_business_hours > {{ var('kpi')['first_reply_target_hours'] }},
        false
    ) as is_first_reply_sla_breached,
    {{ var('kpi')['ticket_open_hours_alert_after'] }} as resolution_target_calendar_hours,
    coalesce(
        resolution_calendar_hours > {{ var('kpi')['ticket_open_hours_alert_after'] }},
        open_age_calendar_hours > {{ var('kpi')['ticket_open_hours_alert_after'] }},
        false
    ) as is_resolution_sla_breached,
    batch_id,
    loaded_at,
    now() as merged_at,
    is_closed_before_created,
    recorded_closed_at
from measured
