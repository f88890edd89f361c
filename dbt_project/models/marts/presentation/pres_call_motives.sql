-- The direction dashboard's "top motifs d'appel": inbound calls of the last complete month by
-- motive (the IVR queue the caller chose, dim_ticket_category), with their share and rank.
with calls as (
    select * from {{ ref('fct_calls') }}
),

last_month as (
    select max(month_start) as month_start
    from {{ ref('mart_kpi_monthly') }}
    where is_complete_month
),

motives as (
    select
        calls.category_code,
        count(*) as calls
    from calls
    cross join last_month
    where calls.is_inbound
        and calls.category_code is not null
        and calls.call_date >= last_month.month_start
        and calls.call_date < last_month.month_start + interval '1 month'
    group by calls.category_code
)

select
    (row_number() over (order by motives.calls desc, categories.sort_order))::integer as motive_rank,
    motives.category_code,
    categories.label_fr as motive_label,
    motives.calls::bigint as calls,
    round(motives.calls::numeric / sum(motives.calls) over (), 4) as share,
    last_month.month_start as period_start,
    {{ fr_month_label('last_month.month_start') }}::text as period_label
from motives
cross join last_month
inner join {{ ref('dim_ticket_category') }} as categories on motives.category_code = categories.category_code
