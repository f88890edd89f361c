-- One row per customer (the golden record the dim_customer snapshot tracks): Sage account,
-- best CRM contact and app customer code joined through identity resolution. The CRM wins
-- for what agents maintain (VIP flag, contact details, status), Sage for the legal name,
-- and each falls back on the other.
with identities as (
    select * from {{ ref('int_customer_identities_matched') }}
),

erp_customers as (
    select * from {{ ref('stg_erp__customers') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

app_customers as (
    select * from {{ ref('int_app_customers_derived') }}
),

customers as (
    select distinct customer_id
    from identities
),

-- a customer can have several CRM contacts (duplicates): the best-matched, most recent one
best_contact as (
    select distinct on (identities.customer_id)
        identities.customer_id,
        identities.match_method,
        contacts.*
    from identities
    inner join contacts on identities.source_record_id = contacts.contact_id
    where identities.source_system = 'crm'
    order by
        identities.customer_id,
        case identities.match_method when 'erp_code' then 1 when 'email' then 2 when 'phone' then 3 else 4 end,
        contacts.updated_at desc
),

app_link as (
    select distinct on (customer_id)
        customer_id,
        source_record_id as app_customer_code
    from identities
    where source_system = 'app'
    order by customer_id, source_record_id
)

select
    customers.customer_id,
    erp.erp_customer_code,
    crm.contact_id as crm_contact_id,
    app_link.app_customer_code,
    coalesce(crm.match_method, 'no_crm_contact') as crm_match_method,
    coalesce(
        erp.customer_name,
        crm.company_name,
        nullif(concat_ws(' ', crm.first_name, crm.last_name), ''),
        app.customer_name
    ) as customer_name,
    coalesce(crm.customer_type, erp.customer_type) as segment,
    coalesce(crm.is_vip, false) as is_vip,
    coalesce(crm.city, erp.city, app.city) as city,
    coalesce(crm.postal_code, erp.postal_code, app.postal_code) as postal_code,
    coalesce(crm.email, erp.email) as email,
    coalesce(crm.mobile_phone_e164, crm.phone_e164, erp.phone_e164, app.customer_phone_e164) as phone_e164,
    crm.owner_id,
    least(erp.created_date, {{ local_date('crm.created_at') }}, app.first_booking_date) as customer_since,
    case
        when crm.customer_status = 'perdu' or erp.is_dormant then 'lost'
        else 'active'
    end as customer_status,
    -- the CRM records the loss date; a dormant Sage account without one was lost when it changed
    case
        when crm.customer_status = 'perdu' then coalesce(crm.lost_date, {{ local_date('erp.modified_at') }})
        when erp.is_dormant then {{ local_date('erp.modified_at') }}
    end as lost_date
from customers
left join erp_customers as erp on customers.customer_id = erp.erp_customer_code
left join best_contact as crm on customers.customer_id = crm.customer_id
left join app_link on customers.customer_id = app_link.customer_id
left join app_customers as app on app_link.app_customer_code = app.customer_code
