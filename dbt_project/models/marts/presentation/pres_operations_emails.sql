-- The operations dashboard's "mails (aujourd'hui)" (spec 1.3, dashboard 2) for the last loaded
-- day, from the service's shared mailbox (mart_kpi_mailbox_daily, Microsoft Graph): received,
-- handled that day, waiting at the end of it, and the average response time against the target.
-- The definitions and the target live in mart_kpi_mailbox_daily; this shapes them into cards.
with day_figures as (
    select * from {{ ref('mart_kpi_mailbox_daily') }}
    where kpi_date = {{ data_as_of_date() }}
),

-- one card per union branch: a branch lists its values in the first branch's named columns
-- noqa: disable=AL03,LT09
cards as (
    select
        1 as sort_order, 'emails_received' as kpi_code, 'Reçus' as label, emails_received::numeric as value,
        null::text as target_label, null::boolean as is_on_target,
        'dont clients' as detail_label, emails_received_from_customers::numeric as detail_value
    from day_figures
    union all
    select
        2, 'emails_answered', 'Traités', emails_handled, null, null,
        null, null
    from day_figures
    union all
    select
        3, 'emails_waiting', 'En attente', emails_waiting, null, null,
        null, null
    from day_figures
    union all
    select
        4, 'emails_avg_reply_hours', 'Temps de réponse moyen', round(avg_response_business_hours, 1),
        'cible < ' || {{ fr_number('response_target_hours') }} || ' h (heures ouvrées)',
        -- no e-mail handled that day: no average, so neither on nor off target
        case when emails_handled > 0 then not is_response_time_alert end,
        null, null
    from day_figures
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
        case
            when sort_order = 1 then 'boîte mail du service client · ' || to_char({{ data_as_of_date() }}, 'DD/MM/YYYY')
        end
    )::text as period_label,
    detail_label::text as detail_label,
    detail_value::numeric as detail_value,
    (case when detail_label is not null then '' end)::text as detail_unit
from cards
