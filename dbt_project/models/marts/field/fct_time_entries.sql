{{ config(
    materialized='incremental', incremental_strategy='merge', unique_key='time_entry_id',
    on_schema_change='append_new_columns', pre_hook="{{ delete_archived('time_entry_id', 'app', 'time_entries') }}"
) }}

-- One row per clock-in of a technician (work, travel, admin, break) with its duration.
-- (The office staff's entries of the same time clock are in fct_office_time_entries.)
with entries as (
    select * from {{ ref('stg_app__time_entries') }}
    where not is_archived and employee_role = 'technician' and {{ incremental_window() }}
)

select
    time_entry_id,
    technician_id,
    intervention_id,
    work_date,
    entry_kind,
    clock_in_at,
    clock_out_at,
    round((extract(epoch from clock_out_at - clock_in_at) / 60)::numeric, 1) as duration_minutes,
    entry_kind = 'admin' as is_admin,
    updated_at,
    batch_id,
    loaded_at,
    now() as merged_at
from entries
