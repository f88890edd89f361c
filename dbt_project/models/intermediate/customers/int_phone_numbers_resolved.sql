-- Phone number (E.164) -> customer, for matching calls. A number known to one customer
-- resolves to it; a number two customers share resolves to neither ('ambiguous'); a number
-- only a CRM lead (prospect) has is a 'prospect'. Numbers found nowhere are unknown callers.
with identities as (
    select * from {{ ref('int_customer_identities_matched') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where not is_archived
),

customer_numbers as (
    select
        identities.customer_id,
        contacts.phone_e164
    from contacts
    inner join identities
        on identities.source_system = 'crm' and contacts.contact_id = identities.source_record_id
    union all
    select
        identities.customer_id,
        contacts.mobile_phone_e164 as phone_e164
    from contacts
    inner join identities
        on identities.source_system = 'crm' and contacts.contact_id = identities.source_record_id
    union all
    select
        identities.customer_id,
        erp.phone_e164
    from {{ ref('stg_erp__customers') }} as erp
    inner join identities
        on identities.source_system = 'erp' and erp.erp_customer_code = identities.source_record_id
    union all
    select
        identities.customer_id,
        app.customer_phone_e164 as phone_e164
    from {{ ref('stg_app__interventions') }} as app
    inner join identities
        on identities.source_system = 'app' and app.customer_code = identities.source_record_id
),

by_number as (
    select
        phone_e164,
        min(customer_id) as customer_id,
        count(distinct customer_id) as customers
    from customer_numbers
    where phone_e164 is not null
    group by phone_e164
),

lead_numbers as (
    select
        number.phone_e164,
        min(contacts.contact_id) as crm_lead_contact_id
    from contacts
    cross join lateral (values (contacts.phone_e164), (contacts.mobile_phone_e164)) as number (phone_e164)
    where contacts.lifecycle_stage <> 'customer' and number.phone_e164 is not null
    group by number.phone_e164
)

select
    coalesce(by_number.phone_e164, lead_numbers.phone_e164) as phone_e164,
    case when by_number.customers = 1 then by_number.customer_id end as customer_id,
    case when by_number.phone_e164 is null then lead_numbers.crm_lead_contact_id end as crm_lead_contact_id,
    case
        when by_number.customers = 1 then 'customer'
        when by_number.customers > 1 then 'ambiguous'
        else 'prospect'
    end as party_type
from by_number
full outer join lead_numbers on by_number.phone_e164 = lead_numbers.phone_e164
