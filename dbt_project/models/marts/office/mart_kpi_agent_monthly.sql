-- Temps admin Claire (%) (spec 1.4, business KPIs, monthly): admin hours / total hours clocked by
-- the customer-service lead, target below 40 %; the same split for every office employee. Total
-- hours are the hours clocked at work (phone, email, admin, meeting), breaks excluded.
with entries as (
    select * from {{ ref('fct_office_time_entries') }}
    where not is_break
),

agents as (
    select * from {{ ref('dim_agent') }}
),

months as (
    select
        date_trunc('month', work_date)::date as month_start,
        staff_id,
        max(staff_email) as staff_email,
        max(agent_id) as agent_id,
        count(distinct work_date) as days_worked,
        sum(duration_minutes) / 60 as worked_hours,
        coalesce(sum(duration_minutes) filter (where activity = 'admin'), 0) / 60 as admin_hours,
        coalesce(sum(duration_minutes) filter (where activity = 'phone'), 0) / 60 as phone_hours,
        coalesce(sum(duration_minutes) filter (where activity = 'email'), 0) / 60 as email_hours,
        coalesce(sum(duration_minutes) filter (where activity = 'meeting'), 0) / 60 as meeting_hours
    from entries
    group by 1, 2
)

select
    months.month_start::text || '|' || months.staff_id as agent_month_key,
    months.month_start,
    months.staff_id,
    months.agent_id,
    months.staff_email,
    agents.full_name,
    months.staff_email = lower('{{ var("service_lead_email") }}') as is_service_lead,
    months.days_worked::bigint as days_worked,
    round(months.worked_hours::numeric, 2) as worked_hours,
    round(months.admin_hours::numeric, 2) as admin_hours,
    round(months.phone_hours::numeric, 2) as phone_hours,
    round(months.email_hours::numeric, 2) as email_hours,
    round(months.meeting_hours::numeric, 2) as meeting_hours,
    round((months.admin_hours / nullif(months.worked_hours, 0))::numeric, 4) as admin_time_share,
    {{ var('kpi')['admin_time_share_target_below'] }}::numeric as admin_time_share_target_below,
    coalesce(
        months.admin_hours / nullif(months.worked_hours, 0) >= {{ var('kpi')['admin_time_share_target_below'] }},
        false
    ) as is_admin_time_alert
from months
left join agents on months.agent_id = agents.agent_id
