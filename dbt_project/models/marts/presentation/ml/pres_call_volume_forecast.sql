-- The models dashboard's call forecast (spec 2.1): the latest forecast, J+1..J+30 with its 95 %
-- interval, after the last 60 days of actual calls, one row per day. The ml_scoring DAG rebuilds
-- and publishes it after each scoring run (see macros/ml_sources.sql).
with forecasts as (
    select * from {{ ref('stg_ml__call_volume_forecast') }}
),

latest as (
    select * from forecasts
    where forecast_date = (select max(newest.forecast_date) from forecasts as newest)
),

actuals as (
    select
        kpi_date,
        calls_per_day
    from {{ ref('mart_kpi_daily') }}
    where kpi_date > {{ data_as_of_date() }} - 60
)

select
    coalesce(actuals.kpi_date, latest.target_date) as day,
    actuals.calls_per_day::bigint as actual_calls,
    round(latest.forecast_calls, 1) as forecast_calls,
    round(latest.forecast_calls_lower, 1) as forecast_calls_lower,
    round(latest.forecast_calls_upper, 1) as forecast_calls_upper,
    latest.forecast_date,
    latest.model_name::text as model_name
from actuals
full outer join latest on actuals.kpi_date = latest.target_date
