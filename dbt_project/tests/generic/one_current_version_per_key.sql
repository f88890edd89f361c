{#- A type-2 dimension never holds two current versions of a durable key, and every key its
    source still knows (`live`: the relation the snapshot reads) has exactly one. A key the source
    no longer knows has none: the snapshot's hard-delete invalidation closed it. That happens when a
    provisional key is retired, e.g. app:CL001431 becoming CL001431 once the office creates the
    Sage account the technician's app already used (seen in a scale-10 daily run). -#}
{% test one_current_version_per_key(model, key, current_flag='is_current', live=none) %}
with versions as (
    select
        {{ key }} as durable_key,
        count(*) filter (where {{ current_flag }}) as current_versions
    from {{ model }}
    group by {{ key }}
)
{%- if live is none %}
select durable_key, current_versions
from versions
where current_versions <> 1
{%- else %},

live as (
    select distinct {{ key }} as durable_key
    from {{ live }}
)

select coalesce(versions.durable_key, live.durable_key) as durable_key, coalesce(versions.current_versions, 0) as current_versions
from versions
full outer join live on versions.durable_key = live.durable_key
where coalesce(versions.current_versions, 0) > 1
    or (live.durable_key is not null and coalesce(versions.current_versions, 0) <> 1)
{%- endif %}
{% endtest %}
