-- The direction dashboard's 12-month trends: satisfaction (CSAT, 1-5) and NPS with their
-- targets, calls per day and cost, one row per complete month of the last twelve.
with months as (
    select
        mart_kpi_monthly.*,
        row_number() over (order by mart_kpi_monthly.month_start desc) as months_back
    from {{ ref('mart_kpi_monthly') }}
    where mart_kpi_monthly.is_complete_month
)

select
    month_start,
    {{ fr_month_label('month_start') }}::text as month_label,
    avg_satisfaction,
    avg_satisfaction_target,
    nps,
    nps_target,
    avg_calls_per_day,
    customer_service_cost_eur,
    field_quote_revenue_eur
from months
where months_back <= 12
