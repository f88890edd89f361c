-- Identity resolution: every customer record of the three systems, tied to one customer.
-- Sage is the master (every customer is billed there): a CRM contact joins its Sage account
-- by the ERP code it holds, else by e-mail, else by phone; an app customer code is the Sage
-- code itself, else joins by phone. A record that joins nothing stays a customer of its own
-- (match_method 'unmatched') and is listed by int_customer_records_unmatched.
with crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where lifecycle_stage = 'customer' and not is_archived
),

erp_customers as (
    select * from {{ ref('stg_erp__customers') }}
),

app_customers as (
    select * from {{ ref('int_app_customers_derived') }}
),

-- only keys that point at exactly one Sage account can match
erp_emails as (
    select
        email,
        min(erp_customer_code) as erp_customer_code
    from erp_customers
    where email is not null
    group by email
    having count(*) = 1
),

erp_phones as (
    select
        phone_e164,
        min(erp_customer_code) as erp_customer_code
    from erp_customers
    where phone_e164 is not null
    group by phone_e164
    having count(*) = 1
),

crm_matched as (
    select
        'crm' as source_system,
        crm.contact_id as source_record_id,
        case
            when by_code.erp_customer_code is not null then by_code.erp_customer_code
            when by_email.erp_customer_code is not null then by_email.erp_customer_code
            else coalesce(by_mobile.erp_customer_code, by_phone.erp_customer_code)
        end as erp_customer_code,
        case
            when by_code.erp_customer_code is not null then 'erp_code'
            when by_email.erp_customer_code is not null then 'email'
            when coalesce(by_mobile.erp_customer_code, by_phone.erp_customer_code) is not null then 'phone'
            else 'unmatched'
        end as match_method
    from crm_contacts as crm
    left join erp_customers as by_code on crm.erp_customer_code = by_code.erp_customer_code
    left join erp_emails as by_email on crm.email = by_email.email
    left join erp_phones as by_mobile on crm.mobile_phone_e164 = by_mobile.phone_e164
    left join erp_phones as by_phone on crm.phone_e164 = by_phone.phone_e164
),

app_matched as (
    select
        'app' as source_system,
        app.customer_code as source_record_id,
        coalesce(by_code.erp_customer_code, by_phone.erp_customer_code) as erp_customer_code,
        case
            when by_code.erp_customer_code is not null then 'erp_code'
            when by_phone.erp_customer_code is not null then 'phone'
            else 'unmatched'
        end as match_method
    from app_customers as app
    left join erp_customers as by_code on app.customer_code = by_code.erp_customer_code
    left join erp_phones as by_phone on app.customer_phone_e164 = by_phone.phone_e164
),

erp_master as (
    select
        'erp' as source_system,
        erp_customer_code as source_record_id,
        erp_customer_code,
        'erp_master' as match_method
    from erp_customers
),

unioned as (
    select * from erp_master
    union all
    select * from crm_matched
    union all
    select * from app_matched
)

select
    source_system || ':' || source_record_id as identity_key,
    source_system,
    source_record_id,
    -- the customer: its Sage code, or the record's own key when it matched no Sage account
    coalesce(erp_customer_code, source_system || ':' || source_record_id) as customer_id,
    erp_customer_code,
    match_method,
    match_method <> 'unmatched' as is_matched
from unioned
