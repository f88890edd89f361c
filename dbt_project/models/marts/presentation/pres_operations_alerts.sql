-- The operations dashboard's "alertes" (spec 1.3, dashboard 2) at the end of the last loaded
-- day, one row per alert: tickets open for more than 24 h (alert threshold from the KPI mart),
-- quotes awaiting the customer's decision (customers to call back) and technicians who worked
-- without clocking in. The flags are mart_kpi_daily's.
with last_day as (
    select * from {{ ref('mart_kpi_daily') }}
    where kpi_date = {{ data_as_of_date() }}
),

-- one card per union branch: a branch lists its values in the first branch's named columns
-- noqa: disable=AL03,LT09
alerts as (
    select
        1 as sort_order,
        'tickets_open_over_24h' as alert_code,
        tickets_open_over_24h as value,
        'tickets ouverts depuis plus de 24 h' as label,
        'dont ' || tickets_unanswered_over_24h || ' sans réponse · alerte au-delà de '
        || tickets_open_over_24h_alert_threshold as detail,
        is_tickets_open_over_24h_alert as is_alert,
        kpi_date
    from last_day

    union all

    select
        2,
        'quotes_awaiting_decision',
        quotes_awaiting_decision,
        'clients à relancer (devis en attente)',
        'devis envoyés, ni acceptés ni refusés, encore valables',
        quotes_awaiting_decision > 0,
        kpi_date
    from last_day

    union all

    select
        3,
        'technicians_without_time_entries',
        technicians_without_time_entries,
        'techniciens sans pointage hier',
        'intervention faite, aucun pointage',
        technicians_without_time_entries > 0,
        kpi_date
    from last_day
)
-- noqa: enable=AL03,LT09

select
    sort_order::integer as sort_order,
    alert_code::text as alert_code,
    value::bigint as value,
    label::text as label,
    detail::text as detail,
    is_alert::boolean as is_alert,
    kpi_date,
    ('au ' || to_char(kpi_date, 'DD/MM/YYYY'))::text as period_label
from alerts
