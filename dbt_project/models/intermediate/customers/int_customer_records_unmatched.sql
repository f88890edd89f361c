-- Customer records identity resolution could not tie across systems, with what was tried:
-- CRM customers and app customer codes that matched no Sage account, and Sage accounts no CRM
-- contact matched (a customer billed but unknown to the CRM).
with identities as (
    select * from {{ ref('int_customer_identities_matched') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

app_customers as (
    select * from {{ ref('int_app_customers_derived') }}
),

erp_customers as (
    select * from {{ ref('stg_erp__customers') }}
),

crm_linked as (
    select distinct erp_customer_code
    from identities
    where source_system = 'crm' and is_matched
),

unmatched_records as (
    select
        identities.identity_key,
        identities.source_system,
        identities.source_record_id,
        identities.customer_id,
        case identities.source_system
            when 'crm' then coalesce(contacts.company_name, concat_ws(' ', contacts.first_name, contacts.last_name))
            else app_customers.customer_name
        end as record_name,
        case when identities.source_system = 'crm' then contacts.email end as email,
        case identities.source_system
            when 'crm' then coalesce(contacts.mobile_phone_e164, contacts.phone_e164)
            else app_customers.customer_phone_e164
        end as phone_e164,
        case identities.source_system
            when 'crm' then contacts.erp_customer_code
            else identities.source_record_id
        end as erp_code_held,
        'no Sage account with this ERP code, e-mail or phone' as reason
    from identities
    left join contacts
        on identities.source_system = 'crm' and identities.source_record_id = contacts.contact_id
    left join app_customers
        on identities.source_system = 'app' and identities.source_record_id = app_customers.customer_code
    where not identities.is_matched
),

erp_without_crm as (
    select
        'erp:' || erp_customers.erp_customer_code as identity_key,
        'erp' as source_system,
        erp_customers.erp_customer_code as source_record_id,
        erp_customers.erp_customer_code as customer_id,
        erp_customers.customer_name as record_name,
        erp_customers.email,
        erp_customers.phone_e164,
        erp_customers.erp_customer_code as erp_code_held,
        'no CRM contact matched this Sage account' as reason
    from erp_customers
    left join crm_linked on erp_customers.erp_customer_code = crm_linked.erp_customer_code
    where crm_linked.erp_customer_code is null
)

select * from unmatched_records
union all
select * from erp_without_crm
