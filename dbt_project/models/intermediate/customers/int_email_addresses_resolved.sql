-- E-mail address -> customer, for the shared mailbox's senders. An address one customer's records
-- hold (CRM contacts, Sage account) resolves to it; an address two customers share resolves to
-- neither ('ambiguous'); an address only a CRM lead holds is a 'prospect'. Addresses found nowhere
-- (suppliers, newsletters, spam, new prospects) are unknown senders.
with identities as (
    select * from {{ ref('int_customer_identities_matched') }}
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where not is_archived
),

customer_emails as (
    select
        identities.customer_id,
        contacts.email
    from contacts
    inner join identities
        on identities.source_system = 'crm' and contacts.contact_id = identities.source_record_id
    union all
    select
        identities.customer_id,
        erp.email
    from {{ ref('stg_erp__customers') }} as erp
    inner join identities
        on identities.source_system = 'erp' and erp.erp_customer_code = identities.source_record_id
),

by_email as (
    select
        email,
        min(customer_id) as customer_id,
        count(distinct customer_id) as customers
    from customer_emails
    where email is not null
    group by email
),

lead_emails as (
    select
        email,
        min(contact_id) as crm_lead_contact_id
    from contacts
    where lifecycle_stage <> 'customer' and email is not null
    group by email
)

select
    coalesce(by_email.email, lead_emails.email) as email,
    case when by_email.customers = 1 then by_email.customer_id end as customer_id,
    case when by_email.email is null then lead_emails.crm_lead_contact_id end as crm_lead_contact_id,
    case
        when by_email.customers = 1 then 'customer'
        when by_email.customers > 1 then 'ambiguous'
        else 'prospect'
    end as party_type
from by_email
full outer join lead_emails on by_email.email = lead_emails.email
