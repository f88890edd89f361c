-- Daily call counts per Paris calendar day, including days without calls.
with calls as (
    select * from {{ ref('stg_cti__calls') }}
),

days as (
    select generate_series(min(call_date), max(call_date), interval '1 day')::date as call_date
    from calls
),

daily as (
    select
        call_date,
        count(*) as calls,
        count(*) filter (where direction = 'inbound') as inbound_calls,
        count(*) filter (where outcome = 'answered') as answered_calls,
        count(*) filter (where direction = 'inbound' and outcome <> 'answered') as unanswered_inbound_calls,
        avg(wait_seconds) filter (where direction = 'inbound') as avg_wait_seconds
    from calls
    group by call_date
)

select
    days.call_date,
    coalesce(daily.calls, 0) as calls,
    coalesce(daily.inbound_calls, 0) as inbound_calls,
    coalesce(daily.answered_calls, 0) as answered_calls,
    coalesce(daily.unanswered_inbound_calls, 0) as unanswered_inbound_calls,
    daily.avg_wait_seconds
from days
left join daily using (call_date)
