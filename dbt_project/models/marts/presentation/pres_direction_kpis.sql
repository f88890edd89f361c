-- The direction dashboard's headline cards (spec 1.3, dashboard 1: calls per day, NPS, cost,
-- additional revenue from field quotes), one row per card: the last complete month's value,
-- its change against the month before (the year-to-date revenue against the same days of last
-- year) and its target. Values are rounded as shown; the definitions stay in the KPI marts.
with months as (
    select
        mart_kpi_monthly.*,
        row_number() over (order by mart_kpi_monthly.month_start desc) as months_back
    from {{ ref('mart_kpi_monthly') }}
    where mart_kpi_monthly.is_complete_month
),

current_month as (
    select * from months
    where months_back = 1
),

previous_month as (
    select * from months
    where months_back = 2
),

daily as (
    select * from {{ ref('mart_kpi_daily') }}
),

thresholds as (
    select max(calls_per_day_alert_threshold) as calls_per_day_alert_threshold
    from daily
),

last_day as (
    select max(kpi_date) as kpi_date
    from daily
),

-- CA additionnel: field-quote revenue since 1 January, against the same days of last year
year_to_date as (
    select
        max(daily.kpi_date) as as_of_date,
        sum(daily.field_quote_revenue_eur) filter (
            where daily.kpi_date >= date_trunc('year', last_day.kpi_date)
        ) as revenue_ytd_eur,
        sum(daily.field_quote_revenue_eur) filter (
            where daily.kpi_date >= date_trunc('year', last_day.kpi_date) - interval '1 year'
            and daily.kpi_date <= last_day.kpi_date - interval '1 year'
        ) as revenue_last_year_same_days_eur
    from daily
    cross join last_day
),

-- one card per union branch: a branch lists its values in the first branch's named columns
-- noqa: disable=AL03,LT09
cards as (
    select
        1 as sort_order,
        'calls_per_day' as kpi_code,
        'Appels' as label,
        round(current_month.avg_calls_per_day, 0) as value,
        '/ jour' as unit,
        round(100 * (current_month.avg_calls_per_day / nullif(previous_month.avg_calls_per_day, 0) - 1), 0)
            as change,
        '%' as change_unit,
        'vs ' || {{ fr_month_label('previous_month.month_start') }} as change_label,
        -- fewer calls is neither good nor bad by itself
        null::boolean as is_change_good,
        'surcharge au-delà de ' || thresholds.calls_per_day_alert_threshold || ' / jour' as target_label,
        current_month.avg_calls_per_day <= thresholds.calls_per_day_alert_threshold as is_on_target,
        'moyenne ' || {{ fr_month_label('current_month.month_start') }} as period_label,
        null::text as detail_label,
        null::numeric as detail_value,
        null::text as detail_unit
    from current_month
    cross join thresholds
    left join previous_month on true

    union all

    select
        2,
        'nps',
        'NPS',
        round(current_month.nps, 0),
        '',
        round(current_month.nps - previous_month.nps, 0),
        'pts',
        'vs ' || {{ fr_month_label('previous_month.month_start') }},
        current_month.nps >= previous_month.nps,
        'cible > ' || {{ fr_number('current_month.nps_target') }},
        current_month.nps > current_month.nps_target,
        {{ fr_month_label('current_month.month_start') }} || ' · ' || current_month.nps_responses || ' réponses',
        null,
        null,
        null
    from current_month
    left join previous_month on true

    union all

    select
        3,
        'customer_service_cost',
        'Coût du service client',
        round(current_month.customer_service_cost_eur / 1000, 1),
        'k€',
        round(
            100 * (current_month.customer_service_cost_eur / nullif(previous_month.customer_service_cost_eur, 0) - 1), 0
        ),
        '%',
        'vs ' || {{ fr_month_label('previous_month.month_start') }},
        current_month.customer_service_cost_eur <= previous_month.customer_service_cost_eur,
        'coût par appel : cible ' || {{ fr_number('100 * current_month.cost_per_call_target_change') }}
        || ' % sur un an',
        case
            when current_month.cost_per_call_change_vs_last_year is not null
                then current_month.is_cost_per_call_on_target
        end,
        {{ fr_month_label('current_month.month_start') }},
        -- null until the month is final (mart_kpi_monthly): the card says why instead of a blank
        case
            when current_month.cost_per_call_eur is not null then 'coût par appel'
            when not current_month.is_ledger_closed then 'coût par appel : à la clôture des comptes du mois'
            else 'coût par appel : appels du mois incomplets'
        end,
        round(current_month.cost_per_call_eur, 2),
        '€'
    from current_month
    left join previous_month on true

    union all

    select
        4,
        'field_quote_revenue_ytd',
        'CA additionnel devis terrain',
        round(year_to_date.revenue_ytd_eur / 1000, 1),
        'k€',
        round(100 * (year_to_date.revenue_ytd_eur / nullif(year_to_date.revenue_last_year_same_days_eur, 0) - 1), 0),
        '%',
        'vs ' || (extract(year from year_to_date.as_of_date)::integer - 1) || ' à date',
        year_to_date.revenue_ytd_eur >= year_to_date.revenue_last_year_same_days_eur,
        'cible ' || {{ fr_number('current_month.field_quote_revenue_target_eur / 1000') }} || ' k€ / mois',
        current_month.is_field_quote_revenue_on_target,
        'depuis le 1er janvier ' || extract(year from year_to_date.as_of_date)::integer,
        {{ fr_month_label('current_month.month_start') }},
        round(current_month.field_quote_revenue_eur / 1000, 1),
        'k€'
    from year_to_date
    cross join current_month
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
    period_label::text as period_label,
    detail_label::text as detail_label,
    detail_value::numeric as detail_value,
    detail_unit::text as detail_unit
from cards
