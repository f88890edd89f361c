-- Field technicians, with the CTI extension each answers the night emergency line on
-- (matched by name: the CDR carries the extension and the name, the app neither).
with technicians as (
    select * from {{ ref('stg_app__technicians') }}
),

night_line_extensions as (
    select distinct on (lower(agent_name))
        lower(agent_name) as name_key,
        agent_extension
    from {{ ref('stg_cti__calls') }}
    where line = 'night' and agent_extension is not null and agent_name is not null
    order by lower(agent_name), call_id desc
)

select
    technicians.technician_id,
    technicians.first_name,
    technicians.last_name,
    technicians.full_name,
    technicians.email,
    technicians.phone_e164,
    technicians.home_city,
    technicians.home_latitude,
    technicians.home_longitude,
    technicians.skills,
    night_line_extensions.agent_extension as cti_extension,
    technicians.is_active and not technicians.is_archived as is_active
from technicians
left join night_line_extensions on lower(technicians.full_name) = night_line_extensions.name_key
