-- Customer-service agents: CRM users (ticket owners) with the CTI extension they take calls
-- on, matched by name (the CDR carries the extension and the agent's name).
with owners as (
    select * from {{ ref('stg_crm__owners') }}
),

day_line_extensions as (
    select distinct on (lower(agent_name))
        lower(agent_name) as name_key,
        agent_extension
    from {{ ref('stg_cti__calls') }}
    where line = 'day' and agent_extension is not null and agent_name is not null
    order by lower(agent_name), call_id desc
)

select
    owners.owner_id as agent_id,
    owners.first_name,
    owners.last_name,
    owners.full_name,
    owners.email,
    day_line_extensions.agent_extension as cti_extension,
    not owners.is_archived as is_active
from owners
left join day_line_extensions on lower(owners.full_name) = day_line_extensions.name_key
