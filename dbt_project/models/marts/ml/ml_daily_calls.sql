-- Daily call series for the call-volume forecast (spec 2.1), with calendar regressors: one row
-- per day of history (no gaps: a day without calls is 0), y = every call of the day, the
-- same count as mart_kpi_daily.calls_per_day. Future regressors: join dim_date.
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
)

select
    daily.kpi_date as ds,
    daily.calls_per_day as y,
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
    daily.inbound_calls
from daily
inner join days on daily.kpi_date = days.date_day
