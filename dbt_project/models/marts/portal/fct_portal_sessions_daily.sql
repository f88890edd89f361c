-- One row per day of the customer portal's traffic as Google Analytics 4 reports it: sessions
-- (visitors who accepted analytics cookies), page views, engagement, and the key events GA4
-- tracked on the booking confirmation and contact-form thank-you pages. The last days are
-- provisional while GA4 still processes them.
with daily as (
    select * from {{ ref('stg_portal__daily_traffic') }}
),

pages as (
    select
        report_date,
        count(*) as pages_viewed,
        coalesce(sum(key_events) filter (where page_path = '{{ var("portal_booking_confirmation_path") }}'), 0)
            as booking_confirmations_tracked,
        coalesce(sum(key_events) filter (where page_path = '{{ var("portal_contact_confirmation_path") }}'), 0)
            as contact_forms_tracked,
        coalesce(sum(sessions) filter (where page_path like '{{ var("portal_booking_funnel_prefix") }}%'), 0)
            as booking_funnel_sessions
    from {{ ref('stg_portal__page_traffic') }}
    group by report_date
)

select
    daily.report_date as session_date,
    daily.sessions,
    daily.screen_page_views,
    daily.engagement_seconds,
    daily.key_events,
    coalesce(pages.booking_confirmations_tracked, 0) as booking_confirmations_tracked,
    coalesce(pages.contact_forms_tracked, 0) as contact_forms_tracked,
    coalesce(pages.booking_funnel_sessions, 0) as booking_funnel_sessions,
    coalesce(pages.pages_viewed, 0) as distinct_pages_viewed,
    daily.revision_count,
    daily.report_date > {{ data_as_of_date() }} - {{ var('portal_analytics_settle_days') }} as is_provisional,
    daily.loaded_at
from daily
left join pages on daily.report_date = pages.report_date
