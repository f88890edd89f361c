-- How to reach each current customer, for the automated messages (alerts/rules.yml): the CRM
-- contact and its owner, names and e-mail with the e-mail opt-out, and the technician who last
-- visited them (the personalised churn e-mail names them). E-mail and phone masked: the clear
-- values are in marts_pii.customer_contact (models/marts/restricted), for the alerting role only.
with customers as (
    select * from {{ ref('dim_customer') }}
    where is_current
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

last_visits as (
    select distinct on (customer_id)
        customer_id,
        technician_id,
        scheduled_date
    from {{ ref('fct_interventions') }}
    where is_done and customer_id is not null
    order by customer_id, scheduled_date desc, intervention_id desc
),

technicians as (
    select * from {{ ref('dim_technician') }}
)

select
    customers.customer_id,
    customers.crm_contact_id,
    customers.owner_id,
    customers.customer_name,
    contacts.first_name,
    contacts.last_name,
    customers.email_masked,
    customers.email_sha256,
    customers.phone_masked,
    customers.phone_sha256,
    coalesce(contacts.is_email_opted_out, false) as is_email_opted_out,
    customers.is_vip,
    customers.segment,
    customers.customer_status,
    customers.customer_since,
    last_visits.technician_id as last_technician_id,
    technicians.first_name as last_technician_first_name,
    technicians.full_name as last_technician_name,
    last_visits.scheduled_date as last_visit_date
from customers
left join contacts on customers.crm_contact_id = contacts.contact_id
left join last_visits on customers.customer_id = last_visits.customer_id
left join technicians on last_visits.technician_id = technicians.technician_id
