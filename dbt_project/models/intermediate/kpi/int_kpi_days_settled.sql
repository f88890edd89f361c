-- Whether each day's figures are final at the run's as-of instant (the end of the as-of day,
-- macros/as_of.sql), one row per day of the daily KPI mart. A day is complete when its CDR
-- file has been loaded (its calls are all there) and every ticket created that day has had
-- its first reply and is closed (its first-reply time and first-contact resolution are
-- settled). Until then its figures are provisional and the alerts that depend on them wait.
with {{ data_days_cte() }},

as_of as (
    select {{ data_as_of_end() }} as as_of_at
),

days as (
    select dim_date.date_day
    from {{ ref('dim_date') }} as dim_date
    inner join data_days on dim_date.date_day between data_days.first_day and data_days.last_day
),

loaded_files as (
    select distinct file_date
    from {{ ref('stg_cti_manifest__deliveries') }}
    where file_date is not null
),

channels as (
    select * from {{ ref('dim_channel') }}
),

tickets as (
    select
        tickets.created_date,
        count(*) filter (where tickets.first_reply_at is null or tickets.first_reply_at >= as_of.as_of_at)
            as tickets_awaiting_first_reply,
        count(*) filter (
            where coalesce(channels.is_written, false)
            and (tickets.first_reply_at is null or tickets.first_reply_at >= as_of.as_of_at)
        ) as written_tickets_awaiting_first_reply,
        count(*) filter (where tickets.closed_at is null or tickets.closed_at >= as_of.as_of_at) as tickets_still_open
    from {{ ref('fct_tickets') }} as tickets
    cross join as_of
    left join channels on tickets.channel_code = channels.channel_code
    group by tickets.created_date
)

select
    days.date_day as kpi_date,
    loaded_files.file_date is not null as is_calls_loaded,
    coalesce(tickets.tickets_awaiting_first_reply, 0) as tickets_awaiting_first_reply,
    coalesce(tickets.written_tickets_awaiting_first_reply, 0) as written_tickets_awaiting_first_reply,
    coalesce(tickets.tickets_still_open, 0) as tickets_still_open,
    coalesce(tickets.written_tickets_awaiting_first_reply, 0) = 0 as is_first_reply_settled,
    coalesce(tickets.tickets_still_open, 0) = 0 as is_first_contact_resolution_settled,
    loaded_files.file_date is not null
    and coalesce(tickets.tickets_awaiting_first_reply, 0) = 0
    and coalesce(tickets.tickets_still_open, 0) = 0 as is_complete_day
from days
left join loaded_files on days.date_day = loaded_files.file_date
left join tickets on days.date_day = tickets.created_date
