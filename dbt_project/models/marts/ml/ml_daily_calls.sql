-- Daily call series for the call-volume forecast (spec 2.1), with calendar and weather regressors:
-- one row per day of history (no gaps: a day without calls is 0), y = every call of the day, the
-- same count as mart_kpi_daily.calls_per_day; then the forecast horizon's days (is_future, y null).
-- Temperature: observed where the archive has published the day, else the freshest forecast issued
-- by the as-of day (the archive's last days, and the future). Days past the forecast's reach have
-- none: the model falls back on climatology. Backtests take the run of their origin from
-- ml_weather_forecasts instead, never these columns' later knowledge.
with daily as (
    select * from {{ ref('mart_kpi_daily') }}
),

days as (
    select
        date_day,
        iso_weekday,
        month_number,
        day_of_year,
        iso_week,
        is_weekend,
        is_public_holiday,
        is_business_day,
        lead(is_public_holiday) over (order by date_day) as is_day_before_public_holiday,
        lag(is_public_holiday) over (order by date_day) as is_day_after_public_holiday,
        -- a business day squeezed between a holiday and the weekend ("pont")
        is_business_day
        and (
            (lag(is_public_holiday) over (order by date_day) and iso_weekday = 5)
            or (lead(is_public_holiday) over (order by date_day) and iso_weekday = 1)
        ) as is_bridge_day
    from {{ ref('dim_date') }}
),

as_of as (
    select {{ data_as_of_date() }} as as_of_date
),

observed as (
    select * from {{ ref('stg_weather__daily_observations') }}
),

-- the most recent run issued by the as-of day, for each day it forecast
freshest_forecast as (
    select distinct on (forecasts.weather_date)
        forecasts.weather_date,
        forecasts.run_date,
        forecasts.temperature_mean_c,
        forecasts.temperature_max_c,
        forecasts.temperature_min_c
    from {{ ref('stg_weather__daily_forecasts') }} as forecasts
    cross join as_of
    where forecasts.run_date <= as_of.as_of_date
    order by forecasts.weather_date, forecasts.run_date desc
),

series as (
    select
        kpi_date as ds,
        calls_per_day as y,
        inbound_calls,
        false as is_future
    from daily
    union all
    select
        days.date_day as ds,
        null::bigint as y,
        null::bigint as inbound_calls,
        true as is_future
    from days
    cross join as_of
    where days.date_day > as_of.as_of_date
        and days.date_day <= as_of.as_of_date + {{ var('call_forecast_horizon_days') }}
)

select
    series.ds,
    series.y,
    series.is_future,
    days.iso_weekday,
    days.month_number,
    days.day_of_year,
    days.iso_week,
    days.is_weekend,
    days.is_public_holiday,
    days.is_business_day,
    coalesce(days.is_day_before_public_holiday, false) as is_day_before_public_holiday,
    coalesce(days.is_day_after_public_holiday, false) as is_day_after_public_holiday,
    coalesce(days.is_bridge_day, false) as is_bridge_day,
    series.inbound_calls,
    coalesce(observed.temperature_mean_c, freshest_forecast.temperature_mean_c) as temperature_mean_c,
    coalesce(observed.temperature_max_c, freshest_forecast.temperature_max_c) as temperature_max_c,
    coalesce(observed.temperature_min_c, freshest_forecast.temperature_min_c) as temperature_min_c,
    case
        when observed.weather_date is not null then 'observed'
        when freshest_forecast.weather_date is not null then 'forecast'
    end as temperature_source,
    case when observed.weather_date is null then freshest_forecast.run_date end as temperature_run_date
from series
inner join days on series.ds = days.date_day
left join observed on series.ds = observed.weather_date
left join freshest_forecast on series.ds = freshest_forecast.weather_date
