-- The models dashboard's customer segments (spec 004): the six segments of the latest
-- segmentation run with their size, their RFM averages and the marketing actions and budget
-- share the spec gives each (seed customer_segments); a segment nobody falls into shows 0.
with segments as (
    select * from {{ ref('stg_ml__customer_segments') }}
    where as_of_date = (select max(latest.as_of_date) from {{ ref('stg_ml__customer_segments') }} as latest)
),

sizes as (
    select
        segment,
        max(as_of_date) as as_of_date,
        count(*) as customers,
        avg(recency_days) as avg_recency_days,
        avg(purchase_count) as avg_purchase_count,
        avg(monetary_eur) as avg_monetary_eur,
        sum(monetary_eur) as monetary_eur
    from segments
    group by segment
),

total as (
    select count(*) as customers
    from segments
)

select
    labels.segment::text as segment,
    labels.label_fr::text as segment_label,
    labels.sort_order::integer as sort_order,
    sizes.as_of_date::date as as_of_date,
    coalesce(sizes.customers, 0)::bigint as customers,
    round(100.0 * coalesce(sizes.customers, 0) / nullif(total.customers, 0), 1)::numeric as customers_pct,
    round(sizes.avg_recency_days, 0)::numeric as avg_recency_days,
    round(sizes.avg_purchase_count, 1)::numeric as avg_purchase_count,
    round(sizes.avg_monetary_eur, 0)::numeric as avg_monetary_eur,
    round(coalesce(sizes.monetary_eur, 0), 0)::numeric as monetary_eur,
    round(100 * labels.budget_share, 0)::numeric as budget_share_pct,
    labels.actions::text as actions,
    labels.expected_roi::text as expected_roi
from {{ ref('customer_segments') }} as labels
cross join total
left join sizes on labels.segment = sizes.segment
