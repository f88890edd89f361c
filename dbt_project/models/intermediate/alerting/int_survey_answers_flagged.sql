-- Survey answers as the CRM holds them now (staging views over raw_crm, which the intraday DAG
-- refreshes every 15 minutes), with the flags the real-time alerts read: a CSAT answer under
-- csat_dissatisfied_below is a dissatisfied customer, from a VIP a critical alert (spec 3.2).
with answers as (
    select * from {{ ref('stg_crm__feedback_submissions') }}
    where not is_archived
),

contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
)

select
    answers.feedback_submission_id,
    answers.contact_id,
    answers.ticket_id,
    answers.survey_type,
    answers.response_value,
    answers.submitted_at,
    coalesce(
        contacts.company_name,
        nullif(concat_ws(' ', contacts.first_name, contacts.last_name), ''),
        'contact ' || answers.contact_id
    ) as customer_name,
    coalesce(contacts.is_vip, false) as is_vip,
    contacts.owner_id,
    tickets.subject as ticket_subject,
    tickets.owner_id as ticket_owner_id,
    {{ var('kpi')['csat_dissatisfied_below'] }}::integer as csat_dissatisfied_below,
    coalesce(
        answers.survey_type = 'CSAT' and answers.response_value < {{ var('kpi')['csat_dissatisfied_below'] }}, false
    ) as is_dissatisfied,
    coalesce(
        contacts.is_vip
        and answers.survey_type = 'CSAT'
        and answers.response_value < {{ var('kpi')['csat_dissatisfied_below'] }},
        false
    ) as is_vip_dissatisfied
from answers
left join contacts on answers.contact_id = contacts.contact_id
left join tickets on answers.ticket_id = tickets.ticket_id
