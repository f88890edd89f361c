-- The operations dashboard's "mails (aujourd'hui)", from what exists today: the tickets the
-- CRM created from an e-mail on the last loaded day, answered or still waiting at its end, and
-- their average first-reply time against 4 hours. The mailbox itself (Outlook, e-mails that
-- never became a ticket) is a source still to come: the dashboard says so beside this tile.
with email_tickets as (
    select * from {{ ref('fct_tickets') }}
    where channel_code = 'email' and created_date = {{ data_as_of_date() }}
),

day_figures as (
    select
        count(*) as received,
        count(*) filter (where first_reply_at < {{ data_as_of_end() }}) as answered,
        count(*) filter (where first_reply_at is null or first_reply_at >= {{ data_as_of_end() }}) as waiting,
        avg(first_reply_business_hours) filter (where first_reply_at < {{ data_as_of_end() }}) as avg_reply_hours
    from email_tickets
),

settings as (
    select {{ var('kpi')['first_reply_target_hours'] }}::numeric as target_hours
),

-- one card per union branch: a branch lists its values in the first branch's named columns
-- noqa: disable=AL03,LT09
cards as (
    select
        1 as sort_order, 'emails_received' as kpi_code, 'Reçus' as label, received::numeric as value,
        null::text as target_label, null::boolean as is_on_target
    from day_figures
    union all
    select 2, 'emails_answered', 'Traités', answered, null, null
    from day_figures
    union all
    select 3, 'emails_waiting', 'En attente', waiting, null, null
    from day_figures
    union all
    select
        4, 'emails_avg_reply_hours', 'Temps de réponse moyen', round(day_figures.avg_reply_hours, 1),
        'cible < ' || {{ fr_number('settings.target_hours') }} || ' h (heures ouvrées)',
        day_figures.avg_reply_hours <= settings.target_hours
    from day_figures
    cross join settings
)
-- noqa: enable=AL03,LT09

select
    sort_order::integer as sort_order,
    kpi_code::text as kpi_code,
    label::text as label,
    value::numeric as value,
    null::text as value_text,
    (case when kpi_code = 'emails_avg_reply_hours' then 'h' else '' end)::text as unit,
    null::numeric as change,
    null::text as change_unit,
    null::text as change_label,
    null::boolean as is_change_good,
    target_label::text as target_label,
    is_on_target::boolean as is_on_target,
    (
        case when sort_order = 1 then 'tickets e-mail du CRM · ' || to_char({{ data_as_of_date() }}, 'DD/MM/YYYY') end
    )::text as period_label,
    null::text as detail_label,
    null::numeric as detail_value,
    null::text as detail_unit
from cards
