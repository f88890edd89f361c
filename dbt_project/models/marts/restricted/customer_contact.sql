-- How to reach each current customer, in clear: dim_customer_contact with the e-mail and phone
-- it masks. Published to marts_pii (not marts), which only the alerting role reads: the
-- personalised churn e-mail and the CRM call tasks (alerts/rules.yml). BI never sees it.
with contacts as (
    select * from {{ ref('dim_customer_contact') }}
),

clear as (
    select
        customer_id,
        email,
        phone_e164
    from {{ ref('snap_customers') }}
    where dbt_valid_to is null
)

select
    contacts.*,
    clear.email,
    clear.phone_e164
from contacts
left join clear on contacts.customer_id = clear.customer_id
