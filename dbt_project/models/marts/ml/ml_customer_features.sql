{#- Trailing windows (days) of the churn features, as the specification's churn model reads them;
    they name the columns, so changing one changes the contract. -#}
{%- set recent = 90 -%}
{%- set previous = 180 -%}
{%- set satisfaction = 180 -%}
{%- set horizon = 180 -%}
-- Churn features (spec 2.2) per customer as of each month end of the history and the as-of
-- day: the latest as_of_date is the scoring set, earlier ones the training history. Every
-- feature reads only what happened on or before as_of_date (no leakage); the labels read the
-- following days and are null until they can be observed.
with {{ ml_as_of_dates_ctes() }},

-- one version per customer, the one valid at the end of each as-of day (type-2 dimension)
customers as (
    select
        as_of_dates.as_of_date,
        versions.customer_id,
        versions.segment,
        versions.is_vip,
        versions.customer_since,
        versions.lost_date
    from as_of_dates
    inner join {{ ref('dim_customer') }} as versions
        on versions.valid_from < ((as_of_dates.as_of_date + 1)::timestamp at time zone '{{ var("local_timezone") }}')
            and coalesce(versions.valid_to, 'infinity')
            >= ((as_of_dates.as_of_date + 1)::timestamp at time zone '{{ var("local_timezone") }}')
    where versions.customer_since <= as_of_dates.as_of_date
        and (versions.lost_date is null or versions.lost_date > as_of_dates.as_of_date)
),

-- every dated signal of a customer, one row per event: its kind and a value
events as (
    select
        customer_id,
        call_date as event_date,
        'inbound_call' as event_kind,
        1::numeric as event_value
    from {{ ref('fct_calls') }}
    where customer_id is not null and is_inbound
    union all
    -- a ticket, worth 1 when it is a complaint
    select
        tickets.customer_id,
        tickets.created_date as event_date,
        'ticket' as event_kind,
        case when categories.is_complaint then 1 else 0 end as event_value
    from {{ ref('fct_tickets') }} as tickets
    left join {{ ref('dim_ticket_category') }} as categories on tickets.category_code = categories.category_code
    where tickets.customer_id is not null
    union all
    select
        customer_id,
        response_date as event_date,
        'satisfaction' as event_kind,
        csat_score as event_value
    from {{ ref('fct_survey_responses') }}
    where customer_id is not null and csat_score is not null
    union all
    select
        customer_id,
        scheduled_date as event_date,
        'satisfaction' as event_kind,
        satisfaction_score as event_value
    from {{ ref('fct_interventions') }}
    where customer_id is not null and is_done and satisfaction_score is not null
    union all
    -- a visit done, worth its lateness in minutes (early counts 0)
    select
        customer_id,
        scheduled_date as event_date,
        'visit' as event_kind,
        greatest(coalesce(start_delay_minutes, 0), 0) as event_value
    from {{ ref('fct_interventions') }}
    where customer_id is not null and is_done
    union all
    -- a quote becomes "not validated" when refused or expired, or when an office quote outlives its validity
    select
        customer_id,
        case
            when origin = 'field' then decision_date
            else created_date + {{ var('kpi')['quote_validity_days'] }}
        end as event_date,
        'unvalidated_quote' as event_kind,
        1 as event_value
    from {{ ref('fct_quotes') }}
    where customer_id is not null
        and (
            (origin = 'field' and quote_status in ('refused', 'expired'))
            or (
                origin = 'office'
                and (decision_date is null or decision_date >= created_date + {{ var('kpi')['quote_validity_days'] }})
            )
        )
    union all
    select
        customer_id,
        invoice_date as event_date,
        'revenue' as event_kind,
        total_ht as event_value
    from {{ ref('fct_invoices') }}
    where customer_id is not null
),

features as (
    select
        customers.customer_id,
        customers.as_of_date,
        count(*) filter (
            where events.event_kind = 'inbound_call' and events.event_date > customers.as_of_date - {{ recent }}
        ) as calls_last_{{ recent }}d,
        count(*) filter (
            where events.event_kind = 'inbound_call'
            and events.event_date <= customers.as_of_date - {{ recent }}
            and events.event_date > customers.as_of_date - {{ recent + previous }}
        ) as calls_previous_{{ previous }}d,
        max(events.event_date) filter (where events.event_kind in ('inbound_call', 'ticket', 'visit'))
            as last_contact_date,
        count(*) filter (
            where events.event_kind = 'ticket' and events.event_date > customers.as_of_date - {{ recent }}
        ) as tickets_last_{{ recent }}d,
        coalesce(sum(events.event_value) filter (
            where events.event_kind = 'ticket' and events.event_date > customers.as_of_date - {{ recent }}
        ), 0) as complaints_last_{{ recent }}d,
        avg(events.event_value) filter (
            where events.event_kind = 'satisfaction' and events.event_date > customers.as_of_date - {{ satisfaction }}
        ) as avg_satisfaction,
        count(*) filter (
            where events.event_kind = 'satisfaction' and events.event_date > customers.as_of_date - {{ satisfaction }}
        ) as satisfaction_scores_last_{{ satisfaction }}d,
        avg(events.event_value) filter (
            where events.event_kind = 'visit' and events.event_date > customers.as_of_date - {{ satisfaction }}
        ) as avg_delay,
        count(*) filter (
            where events.event_kind = 'visit' and events.event_date > customers.as_of_date - {{ satisfaction }}
        ) as interventions_last_{{ satisfaction }}d,
        count(*) filter (
            where events.event_kind = 'unvalidated_quote'
            and events.event_date > customers.as_of_date - {{ satisfaction }}
        ) as unvalidated_quotes_last_{{ satisfaction }}d,
        coalesce(sum(events.event_value) filter (
            where events.event_kind = 'revenue' and events.event_date > customers.as_of_date - 365
        ), 0) as revenue_last_365d_eur
    from customers
    left join events
        on
            customers.customer_id = events.customer_id
            and customers.as_of_date >= events.event_date
    group by customers.customer_id, customers.as_of_date
)

select
    customers.customer_id || ':' || customers.as_of_date as customer_as_of_key,
    customers.customer_id,
    customers.as_of_date,
    customers.as_of_date = data_days.last_day as is_scoring_set,
    customers.as_of_date - data_days.first_day as history_days,
    customers.segment,
    customers.is_vip,
    -- Fréquence appels (a falling rate is a risk): inbound calls, recent window vs the one before
    features.calls_last_{{ recent }}d::integer as calls_last_{{ recent }}d,
    features.calls_previous_{{ previous }}d::integer as calls_previous_{{ previous }}d,
    round(ln(
        (features.calls_last_{{ recent }}d * 30.0 / {{ recent }} + 1)
        / (features.calls_previous_{{ previous }}d * 30.0 / {{ previous }} + 1)
    )::numeric, 4) as call_trend,
    -- Délai dernier contact: days since the last inbound call, ticket or visit
    (customers.as_of_date - coalesce(features.last_contact_date, customers.customer_since))::integer
        as days_since_last_contact,
    -- Satisfaction moyenne: CSAT answers and on-site scores (1-5)
    features.satisfaction_scores_last_{{ satisfaction }}d::integer as satisfaction_scores_last_{{ satisfaction }}d,
    round(features.avg_satisfaction::numeric, 2) as avg_satisfaction_last_{{ satisfaction }}d,
    -- Taux réclamations
    features.tickets_last_{{ recent }}d::integer as tickets_last_{{ recent }}d,
    features.complaints_last_{{ recent }}d::integer as complaints_last_{{ recent }}d,
    round(features.complaints_last_{{ recent }}d::numeric / nullif(features.tickets_last_{{ recent }}d, 0), 4)
        as complaint_rate_last_{{ recent }}d,
    -- Délai interventions: average lateness (minutes, early counts 0)
    features.interventions_last_{{ satisfaction }}d::integer as interventions_last_{{ satisfaction }}d,
    round(features.avg_delay::numeric, 1) as avg_intervention_delay_minutes_last_{{ satisfaction }}d,
    -- Nombre devis non validés
    features.unvalidated_quotes_last_{{ satisfaction }}d::integer as unvalidated_quotes_last_{{ satisfaction }}d,
    -- Ancienneté client
    (customers.as_of_date - customers.customer_since)::integer as tenure_days,
    features.revenue_last_365d_eur::numeric(14, 2) as revenue_last_365d_eur,
    -- labels: lost within the horizon after as_of_date; null while the horizon is not over
    case
        when customers.as_of_date + 90 <= data_days.last_day
            then coalesce(customers.lost_date <= customers.as_of_date + 90, false)
    end as label_churned_within_90d,
    case
        when customers.as_of_date + {{ horizon }} <= data_days.last_day
            then coalesce(customers.lost_date <= customers.as_of_date + {{ horizon }}, false)
    end as label_churned_within_{{ horizon }}d
from customers
inner join features
    on customers.customer_id = features.customer_id and customers.as_of_date = features.as_of_date
cross join data_days
