{{ config(unique_key='call_id') }}

-- One row per call (inbound and outbound, day and night lines), matched to the customer by
-- the outside party's phone number; an unknown caller keeps a null customer_id and
-- party_type 'unknown'. Abandoned, service level and business hours follow DECISIONLOG.md.
with calls as (
    select * from {{ ref('stg_cti__calls') }}
    where {{ incremental_window() }}
),

numbers as (
    select * from {{ ref('int_phone_numbers_resolved') }}
),

agents as (
    select * from {{ ref('dim_agent') }}
    where cti_extension is not null
),

technicians as (
    select * from {{ ref('dim_technician') }}
    where cti_extension is not null
),

categories as (
    select * from {{ ref('dim_ticket_category') }}
),

days as (
    select * from {{ ref('dim_date') }}
),

enriched as (
    select
        calls.call_id,
        calls.call_date,
        calls.started_at,
        calls.ended_at,
        extract(hour from calls.started_at at time zone '{{ var("local_timezone") }}')::integer as start_hour,
        calls.direction,
        calls.line,
        calls.queue,
        categories.category_code,
        'phone' as channel_code,
        calls.outcome,
        calls.agent_extension,
        calls.agent_name,
        agents.agent_id,
        technicians.technician_id,
        calls.party_number,
        numbers.customer_id,
        coalesce(numbers.party_type, 'unknown') as party_type,
        calls.wait_seconds,
        calls.talk_seconds,
        coalesce(
            days.is_business_day
            and calls.started_at >= days.business_opens_at
            and calls.started_at < days.business_closes_at,
            false
        ) as is_in_business_hours,
        calls.source_file,
        calls.batch_id,
        calls.loaded_at
    from calls
    left join numbers on calls.party_number = numbers.phone_e164
    left join agents on calls.line = 'day' and calls.agent_extension = agents.cti_extension
    left join technicians on calls.line = 'night' and calls.agent_extension = technicians.cti_extension
    left join categories on calls.queue = categories.cti_queue
    left join days on calls.call_date = days.date_day
)

select
    call_id,
    call_date,
    started_at,
    ended_at,
    start_hour,
    direction,
    line,
    queue,
    category_code,
    channel_code,
    outcome,
    agent_extension,
    agent_name,
    agent_id,
    technician_id,
    party_number,
    customer_id,
    party_type,
    wait_seconds,
    talk_seconds,
    -- the CTI reports no hold or wrap-up time: handle time is the talk time of an answered call
    case when outcome = 'answered' then talk_seconds end as handle_seconds,
    direction = 'inbound' as is_inbound,
    outcome = 'answered' as is_answered,
    is_in_business_hours,
    -- offered to the agents: inbound on the day line while it is staffed
    direction = 'inbound' and line = 'day' and is_in_business_hours as is_offered,
    direction = 'inbound' and line = 'day' and is_in_business_hours and outcome <> 'answered' as is_abandoned,
    coalesce(
        direction = 'inbound' and outcome = 'answered' and wait_seconds <= {{ var('kpi')['service_level_seconds'] }},
        false
    ) as is_answered_within_service_level,
    source_file,
    batch_id,
    loaded_at,
    now() as merged_at
from enriched
