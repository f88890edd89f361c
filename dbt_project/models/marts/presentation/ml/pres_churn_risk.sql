-- The models dashboard's customers at risk of leaving (spec 2.2): every customer scored by the
-- latest churn run, with the name, city, RFM segment, score, band, the three main reasons in
-- French and the action of the retention campaign the customer is in (score above 50; the
-- thresholds and actions live with the model, ml_tasks/churn.py and cs_analytics/ml/churn.py).
-- The tile lists the highest scores first, so a day with nobody above 50 still shows who comes
-- closest.
with scores as (
    select * from {{ ref('stg_ml__churn_scores') }}
),

latest as (
    select * from scores
    where as_of_date = (select max(latest_run.as_of_date) from scores as latest_run)
),

campaign as (
    select * from {{ ref('stg_ml__retention_campaign') }}
),

segments as (
    select
        segments.customer_id,
        labels.label_fr as segment_label
    from {{ ref('stg_ml__customer_segments') }} as segments
    inner join {{ ref('customer_segments') }} as labels on segments.segment = labels.segment
    where segments.as_of_date = (select max(latest.as_of_date) from {{ ref('stg_ml__customer_segments') }} as latest)
),

customers as (
    select * from {{ ref('dim_customer') }}
    where is_current
)

select
    latest.customer_id::text as customer_id,
    latest.as_of_date::date as as_of_date,
    coalesce(customers.customer_name, latest.customer_id)::text as customer_name,
    customers.city::text as city,
    segments.segment_label::text as segment_label,
    latest.churn_score::integer as churn_score,
    -- the tile shows ranks 1-25: a filter, not a row limit (Superset flags a table cut at its limit)
    row_number() over (
        order by latest.churn_score desc, coalesce(customers.customer_name, latest.customer_id), latest.customer_id
    )::integer as risk_rank,
    latest.risk_band::text as risk_band,
    array_to_string(latest.reasons, ' ; ')::text as reasons,
    coalesce(campaign.campaign_action, 'aucune (hors campagne)')::text as campaign_action,
    (campaign.customer_id is not null)::boolean as is_in_campaign,
    latest.model_version::integer as model_version
from latest
left join campaign
    on latest.customer_id = campaign.customer_id and latest.as_of_date = campaign.as_of_date
left join customers on latest.customer_id = customers.customer_id
left join segments on latest.customer_id = segments.customer_id
