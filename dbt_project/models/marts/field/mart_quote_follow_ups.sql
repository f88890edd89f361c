-- The operations dashboard's "clients à relancer (devis en attente)": quotes sent and still
-- undecided at the as-of day, waiting for at least quote_follow_up_after_days and still within
-- their validity, with whom to call and who owns the customer in the CRM (the alert rule
-- quote_follow_ups turns each into a CRM task).
with quotes as (
    select * from {{ ref('fct_quotes') }}
),

customers as (
    select * from {{ ref('dim_customer_contact') }}
),

technicians as (
    select * from {{ ref('dim_technician') }}
),

as_of as (
    select {{ data_as_of_date() }} as as_of_date
)

select
    quotes.quote_id,
    as_of.as_of_date,
    quotes.origin,
    quotes.customer_id,
    {{ customer_label('customers.customer_name', 'quotes.customer_id', 'quotes.customer_code') }} as customer_name,
    customers.crm_contact_id,
    customers.owner_id,
    customers.phone_masked,
    quotes.technician_id,
    technicians.full_name as technician_name,
    quotes.amount_ht::numeric(14, 2) as amount_ht,
    quotes.created_date,
    (as_of.as_of_date - quotes.created_date)::integer as days_waiting,
    {{ var('kpi')['quote_follow_up_after_days'] }}::integer as follow_up_after_days,
    (quotes.created_date + {{ var('kpi')['quote_validity_days'] }} - 1)::date as valid_until
from quotes
cross join as_of
left join customers on quotes.customer_id = customers.customer_id
left join technicians on quotes.technician_id = technicians.technician_id
where
    quotes.quote_status = 'sent'
    and quotes.decision_date is null
    and quotes.created_date <= as_of.as_of_date - {{ var('kpi')['quote_follow_up_after_days'] }}
    and quotes.created_date + {{ var('kpi')['quote_validity_days'] }} > as_of.as_of_date
