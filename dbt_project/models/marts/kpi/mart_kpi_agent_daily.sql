-- Call-centre KPIs per customer-service agent and day (operations dashboard): calls handled,
-- average handle time, speed of answer and service level on the calls the agent answered,
-- and the agent's tickets (first reply, first-contact resolution). Only days with activity.
with calls as (
    select
        call_date as kpi_date,
        agent_id,
        count(*) as calls_handled,
        count(*) filter (where is_inbound) as inbound_calls_answered,
        count(*) filter (where not is_inbound) as outbound_calls,
        coalesce(sum(handle_seconds), 0) as handle_seconds_total,
        coalesce(sum(wait_seconds) filter (where is_inbound), 0) as answer_wait_seconds_total,
        count(*) filter (where is_answered_within_service_level) as answered_within_service_level
    from {{ ref('fct_calls') }}
    where line = 'day' and is_answered and agent_id is not null
    group by call_date, agent_id
),

tickets as (
    select
        created_date as kpi_date,
        agent_id,
        count(*) as tickets_assigned,
        count(*) filter (where first_reply_at is not null) as tickets_replied,
        coalesce(sum(first_reply_business_hours), 0) as first_reply_business_hours_total,
        count(*) filter (where is_first_contact_resolution) as first_contact_resolutions
    from {{ ref('fct_tickets') }}
    where agent_id is not null
    group by created_date, agent_id
),

joined as (
    select
        coalesce(calls.kpi_date, tickets.kpi_date) as kpi_date,
        coalesce(calls.agent_id, tickets.agent_id) as agent_id,
        coalesce(calls.calls_handled, 0) as calls_handled,
        coalesce(calls.inbound_calls_answered, 0) as inbound_calls_answered,
        coalesce(calls.outbound_calls, 0) as outbound_calls,
        coalesce(calls.handle_seconds_total, 0) as handle_seconds_total,
        coalesce(calls.answer_wait_seconds_total, 0) as answer_wait_seconds_total,
        coalesce(calls.answered_within_service_level, 0) as answered_within_service_level,
        coalesce(tickets.tickets_assigned, 0) as tickets_assigned,
        coalesce(tickets.tickets_replied, 0) as tickets_replied,
        coalesce(tickets.first_reply_business_hours_total, 0) as first_reply_business_hours_total,
        coalesce(tickets.first_contact_resolutions, 0) as first_contact_resolutions
    from calls
    full outer join tickets on calls.kpi_date = tickets.kpi_date and calls.agent_id = tickets.agent_id
)

select
    kpi_date || ':' || agent_id as agent_day_key,
    kpi_date,
    agent_id,
    calls_handled::bigint as calls_handled,
    inbound_calls_answered::bigint as inbound_calls_answered,
    outbound_calls::bigint as outbound_calls,
    handle_seconds_total::bigint as handle_seconds_total,
    round(handle_seconds_total::numeric / nullif(calls_handled, 0), 1) as avg_handle_seconds,
    round(answer_wait_seconds_total::numeric / nullif(inbound_calls_answered, 0), 1) as avg_speed_of_answer_seconds,
    answered_within_service_level::bigint as answered_within_service_level,
    round(answered_within_service_level::numeric / nullif(inbound_calls_answered, 0), 4) as service_level,
    {{ var('kpi')['service_level_target'] }}::numeric as service_level_target,
    tickets_assigned::bigint as tickets_assigned,
    tickets_replied::bigint as tickets_replied,
    round(first_reply_business_hours_total::numeric / nullif(tickets_replied, 0), 2) as avg_first_reply_business_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as first_reply_target_hours,
    first_contact_resolutions::bigint as first_contact_resolutions,
    round(first_contact_resolutions::numeric / nullif(tickets_assigned, 0), 4) as first_contact_resolution_rate,
    {{ var('kpi')['first_contact_resolution_target'] }}::numeric as first_contact_resolution_target
from joined
