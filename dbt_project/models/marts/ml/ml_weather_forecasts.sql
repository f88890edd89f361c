-- Every temperature forecast run issued by the as-of day, as it was issued: the call forecast's
-- rolling-origin backtests read the run of each origin here, so a backtest day never sees weather
-- that was not forecast yet.
with forecasts as (
    select * from {{ ref('stg_weather__daily_forecasts') }}
)

select
    forecasts.forecast_key,
    forecasts.run_date,
    forecasts.weather_date as ds,
    forecasts.lead_days,
    forecasts.temperature_mean_c,
    forecasts.temperature_max_c,
    forecasts.temperature_min_c
from forecasts
where forecasts.run_date <= {{ data_as_of_date() }}
