-- The operations dashboard's "tickets (cette semaine)": the ISO week of the last loaded day
-- (partial until Sunday) from mart_kpi_weekly, one card per figure: opened, closed, in
-- progress, average resolution time against 4 hours, first-contact resolution against 70 %.
with weeks as (
    select * from {{ ref('mart_kpi_weekly') }}
),

this_week as (
    select
        weeks.*,
        'semaine ' || weeks.iso_week || case when weeks.is_complete_week then '' else ' (en cours)' end as period
    from weeks
    where weeks.week_start = date_trunc('week', {{ data_as_of_date() }})::date
),

-- one card per union branch: a branch lists its values in the first branch's named columns
-- noqa: disable=AL03,LT09
cards as (
    select
        1 as sort_order, 'tickets_created' as kpi_code, 'Ouverts' as label, tickets_created as value, '' as unit,
        null::numeric as change, null::text as change_unit,
        null::text as change_label, null::boolean as is_change_good,
        null::text as target_label, null::boolean as is_on_target, period as period_label
    from this_week
    union all
    select
        2, 'tickets_closed', 'Fermés', tickets_closed, '', null, null, null, null, null, null, period
    from this_week
    union all
    select
        3, 'tickets_open', 'En cours', tickets_open_at_week_end, '', null, null, null, null,
        'dont ' || tickets_open_over_24h_at_week_end || ' depuis plus de 24 h', null, period
    from this_week
    union all
    select
        4, 'avg_resolution_hours', 'Temps de résolution moyen', round(avg_resolution_business_hours, 1), 'h',
        null, null, null, null, 'cible < ' || {{ fr_number('first_reply_target_hours') }} || ' h (heures ouvrées)',
        avg_resolution_business_hours < first_reply_target_hours, period
    from this_week
    union all
    select
        5, 'first_contact_resolution', 'Résolution au 1er contact', round(100 * first_contact_resolution_rate, 0), '%',
        null, null, null, null, 'cible > ' || {{ fr_number('100 * first_contact_resolution_target') }} || ' %',
        first_contact_resolution_rate >= first_contact_resolution_target, period
    from this_week
)
-- noqa: enable=AL03,LT09

select
    sort_order::integer as sort_order,
    kpi_code::text as kpi_code,
    label::text as label,
    value::numeric as value,
    null::text as value_text,
    unit::text as unit,
    change::numeric as change,
    change_unit::text as change_unit,
    change_label::text as change_label,
    is_change_good::boolean as is_change_good,
    target_label::text as target_label,
    is_on_target::boolean as is_on_target,
    (case when sort_order = 1 then period_label end)::text as period_label,
    null::text as detail_label,
    null::numeric as detail_value,
    null::text as detail_unit
from cards
