-- Daily operational KPIs with their alert thresholds beside the values (spec 1.4).
with daily as (
    select * from {{ ref('int_calls_aggregated_daily') }}
)

select
    call_date as kpi_date,
    calls as calls_per_day,
    70 as calls_per_day_alert_threshold,
    calls > 70 as is_call_overload,
    inbound_calls,
    answered_calls,
    round(avg_wait_seconds::numeric, 1) as avg_wait_seconds
from daily
