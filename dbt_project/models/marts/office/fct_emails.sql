{{ config(
    materialized='incremental', incremental_strategy='merge', unique_key='message_id',
    on_schema_change='append_new_columns'
) }}

-- One row per message of the shared mailbox's inbox: the sender resolved to a customer, the CRM
-- ticket it opened or belongs to, whether and when an agent handled it (follow-up flag completed)
-- and how long that took in business and calendar hours.
-- The CTEs the ticket match joins are materialized: inlined, the planner misjudged the identity
-- views at one row and rescanned them in nested loops (11 minutes at scale 1 against 4 s).
-- Incremental (merge on message_id): a run rebuilds the threads of the messages of load batches
-- not yet absorbed, and of the messages an e-mail ticket merged since the last run may have
-- opened (a ticket loaded a day after its message), whole, so a thread's ticket stays one. The
-- staging view is read where each filter applies, not through one CTE: a filter then reaches the
-- raw scan, and only the rows kept have their JSON parsed.
-- the e-mail tickets merged into fct_tickets since this fact's last build (none on a full build)
with new_email_tickets as materialized (
    select tickets.created_at
    from {{ ref('fct_tickets') }} as tickets
    where tickets.channel_code = 'email' and {{ merged_since_last_build('tickets.merged_at') }}
),

-- a thread: its conversation, or the message alone when it has none
touched_threads as materialized (
    select coalesce(conversation_id, 'message:' || message_id) as thread_key
    from {{ ref('stg_mailbox__messages') }}
    where {{ incremental_window() }}
    union
    -- the messages received within the minutes around one: a hash lookup on the minute, where a
    -- range join compared every message with every ticket (the planner misjudges the count)
    select coalesce(near.conversation_id, 'message:' || near.message_id) as thread_key
    from {{ ref('stg_mailbox__messages') }} as near
    where date_trunc('minute', near.received_at) in (
            select near_minute.minute_start
            from new_email_tickets
            cross join lateral generate_series(
                date_trunc('minute', new_email_tickets.created_at) - interval '3 minutes',
                date_trunc('minute', new_email_tickets.created_at) + interval '2 minutes',
                interval '1 minute'
            ) as near_minute (minute_start)
        )
),

messages as materialized (
    select * from {{ ref('stg_mailbox__messages') }}
    where coalesce(conversation_id, 'message:' || message_id) in (
            select touched_threads.thread_key from touched_threads
        )
),

senders as materialized (
    select * from {{ ref('int_email_addresses_resolved') }}
),

email_tickets as materialized (
    select
        tickets.ticket_id,
        tickets.created_at,
        identities.customer_id
    from {{ ref('stg_crm__tickets') }} as tickets
    inner join {{ ref('int_customer_identities_matched') }} as identities
        on identities.source_system = 'crm' and tickets.contact_id = identities.source_record_id
    where tickets.source_type = 'EMAIL' and not tickets.is_archived
),

-- HubSpot opens an e-mail ticket when the message lands: the same customer, within two minutes
ticket_openers as materialized (
    select distinct on (messages.message_id)
        messages.message_id,
        messages.conversation_id,
        email_tickets.ticket_id
    from messages
    inner join senders on messages.sender_address = senders.email and senders.party_type = 'customer'
    inner join email_tickets
        on senders.customer_id = email_tickets.customer_id
            and email_tickets.created_at between messages.received_at - interval '2 minutes'
            and messages.received_at + interval '2 minutes'
    order by
        messages.message_id,
        abs(extract(epoch from email_tickets.created_at - messages.received_at)),
        email_tickets.ticket_id
),

-- the customer's later messages in the same thread belong to the same ticket
conversation_tickets as (
    select
        conversation_id,
        min(ticket_id) as ticket_id
    from ticket_openers
    group by conversation_id
)

select
    messages.message_id,
    messages.conversation_id,
    messages.received_at,
    {{ local_date('messages.received_at') }} as received_date,
    messages.sender_address,
    messages.sender_domain,
    messages.sender_name,
    senders.customer_id,
    coalesce(senders.party_type, 'unknown') as sender_type,
    coalesce(ticket_openers.ticket_id, conversation_tickets.ticket_id) as ticket_id,
    ticket_openers.ticket_id is not null as is_ticket_opener,
    messages.subject,
    messages.category,
    messages.categories,
    messages.flag_status,
    messages.is_handled,
    messages.handled_at,
    {{ local_date('messages.handled_at') }} as handled_date,
    messages.is_removed,
    messages.removed_reason,
    -- the mail tile counts what the inbox kept, and what was handled before it left the inbox;
    -- a message removed unhandled (spam moved to junk, a deletion) is not mail to answer
    (messages.is_handled or not messages.is_removed) as is_counted,
    round(({{ business_seconds_between('messages.received_at', 'messages.handled_at') }} / 3600)::numeric, 4)
        as response_business_hours,
    round((extract(epoch from messages.handled_at - messages.received_at) / 3600)::numeric, 4)
        as response_calendar_hours,
    messages.batch_id,
    messages.loaded_at,
    now() as merged_at
from messages
left join senders on messages.sender_address = senders.email
left join ticket_openers on messages.message_id = ticket_openers.message_id
left join conversation_tickets on messages.conversation_id = conversation_tickets.conversation_id
