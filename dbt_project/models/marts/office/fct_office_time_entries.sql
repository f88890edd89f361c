{{ config(
    materialized='incremental', incremental_strategy='merge', unique_key='time_entry_id',
    on_schema_change='append_new_columns', pre_hook="{{ delete_archived('time_entry_id', 'app', 'time_entries') }}"
) }}

-- One row per clock-in of an office employee (customer-service agents and their manager) in the
-- time clock: phone, email, admin, meeting or break, with its duration and the CRM user it is.
with entries as (
    select * from {{ ref('stg_app__time_entries') }}
    where not is_archived and employee_role = 'office' and {{ incremental_window() }}
),

agents as (
    select * from {{ ref('dim_agent') }}
)

select
    entries.time_entry_id,
    entries.staff_id,
    agents.agent_id,
    entries.staff_email,
    entries.work_date,
    entries.entry_kind as activity,
    entries.clock_in_at,
    entries.clock_out_at,
    round((extract(epoch from entries.clock_out_at - entries.clock_in_at) / 60)::numeric, 1) as duration_minutes,
    entries.entry_kind = 'admin' as is_admin,
    entries.entry_kind = 'break' as is_break,
    entries.updated_at,
    entries.batch_id,
    entries.loaded_at,
    now() as merged_at
from entries
left join agents on entries.staff_email = agents.email
