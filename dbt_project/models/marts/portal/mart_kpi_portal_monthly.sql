-- Taux conversion portail (spec 1.4, business KPIs, monthly): COUNT(RDV portail validés) /
-- COUNT(visites portail), target above 15 %. Visits are GA4 sessions, validated bookings the
-- app's portal bookings not cancelled; both summed from mart_kpi_portal_daily. GA4's own
-- conversion (booking confirmations it tracked / sessions) is published beside it. Choices:
-- DECISIONLOG.md, "Taux conversion portail".
with daily as (
    select
        mart_kpi_portal_daily.*,
        days.month_start
    from {{ ref('mart_kpi_portal_daily') }}
    inner join {{ ref('dim_date') }} as days on mart_kpi_portal_daily.kpi_date = days.date_day
),

months as (
    select
        month_start,
        count(*) as days_covered,
        sum(portal_sessions) as portal_sessions,
        sum(portal_page_views) as portal_page_views,
        sum(portal_engagement_seconds) as portal_engagement_seconds,
        sum(booking_confirmations_tracked) as booking_confirmations_tracked,
        sum(portal_bookings) as portal_bookings,
        sum(portal_bookings_validated) as portal_bookings_validated,
        bool_or(is_provisional) as is_provisional
    from daily
    group by month_start
)

select
    month_start,
    days_covered::bigint as days_covered,
    days_covered = extract(day from (month_start + interval '1 month - 1 day'))::int as is_complete_month,
    portal_sessions::bigint as portal_sessions,
    portal_page_views::bigint as portal_page_views,
    round(portal_engagement_seconds / nullif(portal_sessions, 0), 1) as avg_engagement_seconds,
    portal_bookings::bigint as portal_bookings,
    portal_bookings_validated::bigint as portal_bookings_validated,
    round(portal_bookings_validated::numeric / nullif(portal_sessions, 0), 4) as portal_conversion_rate,
    {{ var('kpi')['portal_conversion_target'] }}::numeric as portal_conversion_target,
    coalesce(
        portal_bookings_validated::numeric / nullif(portal_sessions, 0) < {{ var('kpi')['portal_conversion_target'] }},
        false
    ) as is_portal_conversion_alert,
    round(booking_confirmations_tracked / nullif(portal_sessions, 0), 4) as tracked_conversion_rate,
    is_provisional
from months
