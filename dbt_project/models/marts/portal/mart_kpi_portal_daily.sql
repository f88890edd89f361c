-- The portal per day: GA4 sessions and the app's portal bookings, and the daily conversion rate
-- (validated portal bookings / portal sessions), the components the monthly KPI adds up.
with sessions as (
    select * from {{ ref('fct_portal_sessions_daily') }}
),

bookings as (
    select
        booked_date,
        count(*) as portal_bookings,
        count(*) filter (where not is_cancelled) as portal_bookings_validated
    from {{ ref('fct_interventions') }}
    where is_booked_online
    group by booked_date
),

days as (
    select date_day as kpi_date
    from {{ ref('dim_date') }}
    where date_day between (select min(sessions.session_date) from sessions) and {{ data_as_of_date() }}
)

select
    days.kpi_date,
    coalesce(sessions.sessions, 0)::bigint as portal_sessions,
    coalesce(sessions.screen_page_views, 0)::bigint as portal_page_views,
    coalesce(sessions.engagement_seconds, 0)::numeric as portal_engagement_seconds,
    coalesce(sessions.booking_confirmations_tracked, 0)::numeric as booking_confirmations_tracked,
    coalesce(bookings.portal_bookings, 0)::bigint as portal_bookings,
    coalesce(bookings.portal_bookings_validated, 0)::bigint as portal_bookings_validated,
    round(bookings.portal_bookings_validated::numeric / nullif(sessions.sessions, 0), 4) as portal_conversion_rate,
    {{ var('kpi')['portal_conversion_target'] }}::numeric as portal_conversion_target,
    coalesce(sessions.is_provisional, true) as is_provisional
from days
left join sessions on days.kpi_date = sessions.session_date
left join bookings on days.kpi_date = bookings.booked_date
