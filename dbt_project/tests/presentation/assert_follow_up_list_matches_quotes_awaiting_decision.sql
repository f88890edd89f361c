-- The "clients à relancer" list and the "devis en attente" count of the alerts tile are the
-- same quotes: pres_quotes_to_follow_up restates mart_kpi_daily's rule as a list, so the two
-- must agree on the last loaded day. Returns a row when they do not.
with listed as (
    select count(*) as quotes
    from {{ ref('pres_quotes_to_follow_up') }}
),

counted as (
    select quotes_awaiting_decision as quotes
    from {{ ref('mart_kpi_daily') }}
    where kpi_date = {{ data_as_of_date() }}
)

select
    listed.quotes as listed_quotes,
    counted.quotes as counted_quotes
from listed
cross join counted
where listed.quotes <> counted.quotes
