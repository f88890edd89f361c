-- Ticket KPIs per contact channel and day (operations dashboard: the e-mails panel, and the
-- reply and resolution times of each channel side by side): tickets created that day and their
-- first-reply time, tickets closed that day and their resolution time. One row per day of the
-- daily mart and channel a ticket can come from. The daily, weekly and monthly headlines are the
-- written channels' (is_written_channel); the phone's is published here, where it cannot blur them.
with {{ data_days_cte() }},

as_of as (
    select {{ data_as_of_end() }} as as_of_at
),

channels as (
    select * from {{ ref('dim_channel') }}
),

tickets as (
    select * from {{ ref('fct_tickets') }}
),

ticket_channels as (
    select channels.*
    from channels
    where channels.channel_code in (select distinct tickets.channel_code from tickets)
),

grid as (
    select
        dim_date.date_day as kpi_date,
        ticket_channels.channel_code,
        ticket_channels.is_written
    from {{ ref('dim_date') }} as dim_date
    inner join data_days on dim_date.date_day between data_days.first_day and data_days.last_day
    cross join ticket_channels
),

created as (
    select
        tickets.created_date as kpi_date,
        tickets.channel_code,
        count(*) as tickets_created,
        count(*) filter (where tickets.first_reply_at is not null) as tickets_replied,
        count(*) filter (where tickets.first_reply_at is null or tickets.first_reply_at >= as_of.as_of_at)
            as tickets_awaiting_first_reply,
        coalesce(sum(tickets.first_reply_business_hours), 0) as first_reply_business_hours_total,
        coalesce(sum(tickets.first_reply_calendar_hours), 0) as first_reply_calendar_hours_total,
        count(*) filter (where tickets.first_reply_business_hours = 0) as zero_business_hour_replies,
        count(*) filter (where tickets.is_first_contact_resolution) as first_contact_resolutions
    from tickets
    cross join as_of
    group by tickets.created_date, tickets.channel_code
),

closed as (
    select
        closed_date as kpi_date,
        channel_code,
        count(*) as tickets_closed,
        coalesce(sum(resolution_business_hours), 0) as resolution_business_hours_total
    from tickets
    where is_closed
    group by closed_date, channel_code
),

joined as (
    select
        grid.kpi_date,
        grid.channel_code,
        grid.is_written,
        coalesce(created.tickets_created, 0) as tickets_created,
        coalesce(created.tickets_replied, 0) as tickets_replied,
        coalesce(created.tickets_awaiting_first_reply, 0) as tickets_awaiting_first_reply,
        coalesce(created.first_reply_business_hours_total, 0) as first_reply_business_hours_total,
        coalesce(created.first_reply_calendar_hours_total, 0) as first_reply_calendar_hours_total,
        coalesce(created.zero_business_hour_replies, 0) as zero_business_hour_replies,
        coalesce(created.first_contact_resolutions, 0) as first_contact_resolutions,
        coalesce(closed.tickets_closed, 0) as tickets_closed,
        coalesce(closed.resolution_business_hours_total, 0) as resolution_business_hours_total
    from grid
    left join created on grid.kpi_date = created.kpi_date and grid.channel_code = created.channel_code
    left join closed on grid.kpi_date = closed.kpi_date and grid.channel_code = closed.channel_code
)

select
    kpi_date || ':' || channel_code as channel_day_key,
    kpi_date,
    channel_code,
    is_written as is_written_channel,
    tickets_created::bigint as tickets_created,
    tickets_replied::bigint as tickets_replied,
    tickets_awaiting_first_reply::bigint as tickets_awaiting_first_reply,
    zero_business_hour_replies::bigint as zero_business_hour_replies,
    round(first_reply_business_hours_total::numeric, 4) as first_reply_business_hours_total,
    {{ kpi_ratio('first_reply_business_hours_total', 'tickets_replied', 2) }} as avg_first_reply_business_hours,
    {{ kpi_ratio('first_reply_calendar_hours_total', 'tickets_replied', 2) }} as avg_first_reply_calendar_hours,
    {{ var('kpi')['first_reply_target_hours'] }}::numeric as first_reply_target_hours,
    first_contact_resolutions::bigint as first_contact_resolutions,
    tickets_closed::bigint as tickets_closed,
    round(resolution_business_hours_total::numeric, 4) as resolution_business_hours_total,
    {{ kpi_ratio('resolution_business_hours_total', 'tickets_closed', 2) }} as avg_resolution_business_hours,
    {{ var('kpi')['resolution_target_hours'] }}::numeric as resolution_target_hours
from joined
