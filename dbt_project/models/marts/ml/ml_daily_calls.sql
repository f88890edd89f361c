-- Daily call series for the call-volume forecast, with calendar regressors.
with daily as (
    select * from {{ ref('int_calls_aggregated_daily') }}
)

select
    call_date as ds,
    calls as y,
    extract(isodow from call_date)::int as iso_weekday
from daily
