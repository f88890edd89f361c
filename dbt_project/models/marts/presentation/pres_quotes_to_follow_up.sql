-- "Clients à relancer": the quotes awaiting the customer's decision at the end of the last
-- loaded day (sent, neither accepted nor refused, still within their validity; the same rule
-- as mart_kpi_daily.quotes_awaiting_decision, which a test holds equal to this list's count),
-- with the customer's name and masked phone: the operations team calls them back from the CRM
-- call task each one gets (alerts/rules.yml, which reads the number from marts_pii). Read by the
-- operations role only.
with quotes as (
    select * from {{ ref('fct_quotes') }}
),

customers as (
    select * from {{ ref('dim_customer') }}
    where is_current
)

select
    quotes.quote_id,
    quotes.origin,
    (case quotes.origin when 'field' then 'Terrain' else 'Bureau' end)::text as origin_label,
    quotes.customer_id,
    ({{ customer_label('customers.customer_name', 'quotes.customer_id', 'quotes.customer_code') }})::text
        as customer_name,
    customers.phone_masked::text as customer_phone,
    customers.city::text as city,
    quotes.technician_id,
    coalesce(technicians.full_name, '—')::text as technician_name,
    quotes.created_date,
    ({{ data_as_of_date() }} - quotes.created_date)::integer as days_waiting,
    quotes.amount_ht::numeric(14, 2) as amount_eur,
    {{ data_as_of_date() }} as as_of_date
from quotes
left join customers on quotes.customer_id = customers.customer_id
left join {{ ref('dim_technician') }} as technicians on quotes.technician_id = technicians.technician_id
where quotes.created_date <= {{ data_as_of_date() }}
    and (quotes.decision_date is null or quotes.decision_date > {{ data_as_of_date() }})
    and quotes.created_date + {{ var("kpi")["quote_validity_days"] }} - 1 >= {{ data_as_of_date() }}
