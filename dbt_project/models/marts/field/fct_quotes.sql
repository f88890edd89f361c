-- One row per commercial quote, whatever its origin: written on site in the technicians' app
-- ('field', FQ-...; in Sage once accepted, with DO_Ref = the field-quote id) or typed at the
-- office in Sage ('office', DE... without a field reference). Conversion follows the Sage
-- chain: an order (BC) line carrying the quote number in DL_PieceDE.
with field_quotes as (
    select * from {{ ref('stg_app__field_quotes') }}
    where not is_archived
),

documents as (
    select * from {{ ref('stg_erp__documents') }}
),

lines as (
    select * from {{ ref('stg_erp__document_lines') }}
),

identities as (
    select * from {{ ref('int_customer_identities_matched') }}
    where source_system in ('erp', 'app')
),

erp_quotes as (
    select * from documents
    where document_kind = 'quote'
),

-- what followed each quote in Sage
follow_ups as (
    select
        lines.source_quote_number as quote_number,
        min(documents.document_number) filter (where documents.document_kind = 'order') as order_number,
        min(documents.created_at) filter (where documents.document_kind = 'order') as ordered_at,
        sum(lines.amount_ht) filter (where documents.document_kind = 'invoice') as invoiced_amount_ht
    from lines
    inner join documents on lines.document_number = documents.document_number
    where lines.source_quote_number is not null
    group by lines.source_quote_number
),

-- the Sage quote validated from each field quote: the one with its number, else the first whose
-- DO_Ref is the field-quote id (joined below by number, then by reference). Two hash joins: a
-- lateral lookup with an OR compared every field quote with every Sage quote (57 s of the
-- scale-10 build, quadratic in the history).
quotes_by_reference as (
    select distinct on (reference) *
    from erp_quotes
    where reference is not null
    order by reference, document_number
),

unioned as (
    select
        field_quotes.field_quote_id as quote_id,
        'field' as origin,
        field_quotes.field_quote_id,
        coalesce(field_quotes.erp_quote_number, by_number.document_number, by_reference.document_number)
            as erp_quote_number,
        field_quotes.intervention_id,
        field_quotes.technician_id,
        coalesce(
            field_quotes.customer_code,
            case
                when by_number.document_number is not null then by_number.erp_customer_code
                else by_reference.erp_customer_code
            end
        ) as customer_code,
        'app' as customer_source,
        field_quotes.quote_status,
        field_quotes.created_at,
        field_quotes.decided_at,
        field_quotes.quote_status = 'accepted' as is_accepted,
        field_quotes.quote_status in ('refused', 'expired') as is_unvalidated,
        -- the Sage amount once the quote is there, the app's before
        coalesce(
            case when by_number.document_number is not null then by_number.total_ht else by_reference.total_ht end,
            field_quotes.amount_ht
        ) as amount_ht
    from field_quotes
    left join erp_quotes as by_number on field_quotes.erp_quote_number = by_number.document_number
    left join quotes_by_reference as by_reference on field_quotes.field_quote_id = by_reference.reference
    union all
    select
        erp_quotes.document_number as quote_id,
        'office' as origin,
        null as field_quote_id,
        erp_quotes.document_number as erp_quote_number,
        null as intervention_id,
        null as technician_id,
        erp_quotes.erp_customer_code as customer_code,
        'erp' as customer_source,
        case erp_quotes.document_status when 0 then 'draft' when 1 then 'sent' when 2 then 'accepted' end
            as quote_status,
        erp_quotes.created_at,
        case when erp_quotes.document_status = 2 then erp_quotes.modified_at end as decided_at,
        erp_quotes.document_status = 2 as is_accepted,
        -- Sage has no refusal status: an office quote left unaccepted past its validity counts as lost
        erp_quotes.document_status <> 2
        and erp_quotes.created_at < {{ data_as_of_end() }} - interval '{{ var("kpi")["quote_validity_days"] }} days'
            as is_unvalidated,
        erp_quotes.total_ht as amount_ht
    from erp_quotes
    where erp_quotes.reference is null
        or erp_quotes.reference not in (select known.field_quote_id from field_quotes as known)
)

select
    unioned.quote_id,
    unioned.origin,
    unioned.field_quote_id,
    unioned.erp_quote_number,
    unioned.intervention_id,
    unioned.technician_id,
    identities.customer_id,
    unioned.customer_code,
    unioned.quote_status,
    unioned.created_at,
    {{ local_date('unioned.created_at') }} as created_date,
    unioned.decided_at,
    {{ local_date('unioned.decided_at') }} as decision_date,
    unioned.is_accepted,
    unioned.is_unvalidated,
    unioned.amount_ht,
    follow_ups.order_number,
    follow_ups.ordered_at,
    follow_ups.order_number is not null as is_converted_to_order,
    coalesce(follow_ups.invoiced_amount_ht, 0)::numeric(14, 2) as invoiced_amount_ht
from unioned
left join identities
    on unioned.customer_source = identities.source_system and unioned.customer_code = identities.source_record_id
left join follow_ups on unioned.erp_quote_number = follow_ups.quote_number
