-- A table, not incremental like the other contact-centre facts: which invitation an answer belongs
-- to changes when an earlier-sent invitation is loaded after it, and a merge would keep the stale
-- pairing; the matching reads every invitation and answer whatever the window anyway.
{{ config(materialized='table') }}

-- One row per survey sent (NPS or CSAT) with its answer when there is one, plus one row per
-- answer that matches no invitation: the response rate is answered / sent, NPS and CSAT read
-- the answers. An answer belongs to the latest invitation of its type sent to the contact
-- (for the same ticket, for a CSAT) before it was submitted.
with invitations as (
    select * from {{ ref('stg_crm__survey_invitations') }}
    where not is_archived
),

submissions as (
    select * from {{ ref('stg_crm__feedback_submissions') }}
    where not is_archived
),

identities as (
    select * from {{ ref('int_customer_identities_matched') }}
    where source_system = 'crm'
),

answer_invitation as (
    select distinct on (submissions.feedback_submission_id)
        submissions.feedback_submission_id,
        invitations.survey_invitation_id
    from submissions
    inner join invitations
        on
            submissions.contact_id = invitations.contact_id
            and submissions.survey_type = invitations.survey_type
            and coalesce(submissions.ticket_id, '') = coalesce(invitations.ticket_id, '')
            and submissions.submitted_at >= invitations.sent_at
    order by submissions.feedback_submission_id, invitations.sent_at desc, invitations.survey_invitation_id desc
),

-- an invitation answered twice keeps its first answer; the other becomes a row of its own
first_answers as (
    select distinct on (answer_invitation.survey_invitation_id)
        answer_invitation.survey_invitation_id,
        answer_invitation.feedback_submission_id
    from answer_invitation
    inner join submissions on answer_invitation.feedback_submission_id = submissions.feedback_submission_id
    order by answer_invitation.survey_invitation_id, submissions.submitted_at, submissions.feedback_submission_id
),

surveys as (
    select
        'invitation:' || invitations.survey_invitation_id as survey_key,
        invitations.survey_invitation_id,
        submissions.feedback_submission_id,
        invitations.survey_type,
        invitations.contact_id,
        invitations.ticket_id,
        invitations.sent_at,
        submissions.submitted_at,
        submissions.response_value,
        greatest(invitations.loaded_at, submissions.loaded_at) as loaded_at
    from invitations
    left join first_answers on invitations.survey_invitation_id = first_answers.survey_invitation_id
    left join submissions on first_answers.feedback_submission_id = submissions.feedback_submission_id
    union all
    select
        'submission:' || submissions.feedback_submission_id as survey_key,
        null as survey_invitation_id,
        submissions.feedback_submission_id,
        submissions.survey_type,
        submissions.contact_id,
        submissions.ticket_id,
        null as sent_at,
        submissions.submitted_at,
        submissions.response_value,
        submissions.loaded_at
    from submissions
    left join first_answers on submissions.feedback_submission_id = first_answers.feedback_submission_id
    where first_answers.feedback_submission_id is null
)

select
    surveys.survey_key,
    surveys.survey_invitation_id,
    surveys.feedback_submission_id,
    surveys.survey_type,
    identities.customer_id,
    surveys.contact_id,
    surveys.ticket_id,
    surveys.sent_at,
    {{ local_date('surveys.sent_at') }} as sent_date,
    surveys.submitted_at,
    {{ local_date('surveys.submitted_at') }} as response_date,
    surveys.survey_invitation_id is not null as is_invited,
    surveys.submitted_at is not null as is_answered,
    surveys.response_value,
    -- NPS: promoters 9-10, passives 7-8, detractors 0-6
    case
        when surveys.survey_type <> 'NPS' or surveys.response_value is null then null
        when surveys.response_value >= 9 then 'promoter'
        when surveys.response_value >= 7 then 'passive'
        else 'detractor'
    end as nps_category,
    case when surveys.survey_type = 'CSAT' then surveys.response_value end as csat_score,
    round(({{ seconds_between('surveys.sent_at', 'surveys.submitted_at') }} / 3600.0)::numeric, 2)
        as response_delay_hours,
    surveys.loaded_at
from surveys
left join identities on surveys.contact_id = identities.source_record_id
