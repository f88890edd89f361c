-- The technician dashboard's cards (spec 1.3, dashboard 3), one row per active technician and
-- card: "mes stats (cette semaine)" (visits done, field quotes written against last week,
-- average on-site satisfaction against 4/5, average time on site) and "CA généré" (accepted
-- field-quote revenue this week, month and year). The period is the ISO week (month, year) of
-- the last loaded day. Technicians see only their own rows (row-level security on
-- technician_id, bi/access.yaml).
with days as (
    select * from {{ ref('mart_kpi_technician_daily') }}
),

as_of as (
    select
        {{ data_as_of_date() }} as as_of_date,
        date_trunc('week', {{ data_as_of_date() }})::date as week_start,
        date_trunc('month', {{ data_as_of_date() }})::date as month_start,
        date_trunc('year', {{ data_as_of_date() }})::date as year_start
),

technicians as (
    select * from {{ ref('dim_technician') }}
    where is_active
),

totals as (
    select
        technicians.technician_id,
        technicians.full_name as technician_name,
        as_of.as_of_date,
        as_of.week_start,
        sum(days.interventions_done) filter (where days.kpi_date >= as_of.week_start) as visits_week,
        -- last week over the same weekdays, so a week in progress compares like with like
        sum(days.interventions_done) filter (
            where days.kpi_date >= as_of.week_start - 7 and days.kpi_date <= as_of.as_of_date - 7
        ) as visits_last_week,
        sum(days.field_quotes_created) filter (where days.kpi_date >= as_of.week_start) as quotes_week,
        sum(days.field_quotes_created) filter (
            where days.kpi_date >= as_of.week_start - 7 and days.kpi_date <= as_of.as_of_date - 7
        ) as quotes_last_week,
        sum(days.satisfaction_score_total) filter (where days.kpi_date >= as_of.week_start) as score_total_week,
        sum(days.satisfaction_scores) filter (where days.kpi_date >= as_of.week_start) as scores_week,
        sum(days.intervention_minutes_total) filter (where days.kpi_date >= as_of.week_start) as minutes_week,
        sum(days.field_quote_revenue_eur) filter (where days.kpi_date >= as_of.week_start) as revenue_week,
        sum(days.field_quote_revenue_eur) filter (where days.kpi_date >= as_of.month_start) as revenue_month,
        sum(days.field_quote_revenue_eur) filter (where days.kpi_date >= as_of.year_start) as revenue_year,
        max(days.avg_satisfaction_target) as satisfaction_target
    from technicians
    cross join as_of
    left join days
        on technicians.technician_id = days.technician_id
            and days.kpi_date between as_of.year_start - 7 and as_of.as_of_date
    group by technicians.technician_id, technicians.full_name, as_of.as_of_date, as_of.week_start
),

figures as (
    select
        totals.*,
        coalesce(totals.visits_week, 0) as visits,
        coalesce(totals.quotes_week, 0) as quotes,
        round(totals.score_total_week::numeric / nullif(totals.scores_week, 0), 1) as satisfaction,
        round(totals.minutes_week / nullif(totals.visits_week, 0), 0) as avg_minutes,
        {{ var('kpi')['csat_target'] }}::numeric as csat_target,
        'semaine ' || extract(week from totals.week_start)::integer || ' (du '
        || to_char(totals.week_start, 'DD/MM') || ' au ' || to_char(totals.as_of_date, 'DD/MM') || ')' as week_label
    from totals
),

-- one card per union branch: a branch lists its values in the first branch's named columns
-- noqa: disable=AL03,LT09
cards as (
    select
        technician_id, technician_name, 'semaine' as kpi_group, 1 as sort_order, 'visits' as kpi_code,
        'Interventions' as label, visits as value, null::text as value_text, '' as unit,
        visits - coalesce(visits_last_week, 0) as change, 'vs mêmes jours sem. dernière' as change_label,
        null::boolean as is_change_good, null::text as target_label, null::boolean as is_on_target,
        week_label as period_label
    from figures
    union all
    select
        technician_id, technician_name, 'semaine', 2, 'quotes_written', 'Devis générés', quotes, null, '',
        quotes - coalesce(quotes_last_week, 0), 'vs mêmes jours sem. dernière', quotes >= coalesce(quotes_last_week, 0),
        null, null, null
    from figures
    union all
    select
        technician_id, technician_name, 'semaine', 3, 'satisfaction', 'Satisfaction moyenne', satisfaction, null,
        '/ 5', null, null, null, 'cible > ' || {{ fr_number('csat_target') }} || ' / 5', satisfaction >= csat_target,
        coalesce(scores_week, 0) || ' notes'
    from figures
    union all
    select
        technician_id, technician_name, 'semaine', 4, 'avg_visit_minutes', 'Temps moyen d''intervention',
        avg_minutes, floor(avg_minutes / 60) || ' h ' || lpad((avg_minutes % 60)::integer::text, 2, '0'), '', null,
        null, null, null, null, 'par intervention faite'
    from figures
    union all
    select
        technician_id, technician_name, 'ca', 5, 'revenue_week', 'Cette semaine', round(coalesce(revenue_week, 0), 0),
        null, '€', null, null, null, null, null, week_label
    from figures
    union all
    select
        technician_id, technician_name, 'ca', 6, 'revenue_month', 'Ce mois', round(coalesce(revenue_month, 0), 0),
        null, '€', null, null, null, null, null, {{ fr_month_label('as_of_date') }}
    from figures
    union all
    select
        technician_id, technician_name, 'ca', 7, 'revenue_year', 'Cette année', round(coalesce(revenue_year, 0), 0),
        null, '€', null, null, null, null, null, 'depuis le 1er janvier ' || extract(year from as_of_date)::integer
    from figures
)
-- noqa: enable=AL03,LT09

select
    (technician_id || ':' || kpi_code)::text as technician_kpi_key,
    technician_id::text as technician_id,
    technician_name::text as technician_name,
    kpi_group::text as kpi_group,
    sort_order::integer as sort_order,
    kpi_code::text as kpi_code,
    label::text as label,
    value::numeric as value,
    value_text::text as value_text,
    unit::text as unit,
    change::numeric as change,
    ''::text as change_unit,
    change_label::text as change_label,
    is_change_good::boolean as is_change_good,
    target_label::text as target_label,
    is_on_target::boolean as is_on_target,
    period_label::text as period_label,
    null::text as detail_label,
    null::numeric as detail_value,
    null::text as detail_unit
from cards
