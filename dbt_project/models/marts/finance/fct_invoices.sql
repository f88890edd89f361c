-- One row per invoice or credit note (Sage FA / AV, posted or not), with its amounts, the
-- item families it bills and what it comes from. Credit notes carry negative amounts.
with documents as (
    select * from {{ ref('stg_erp__documents') }}
    where document_kind in ('invoice', 'credit_note')
),

lines as (
    select * from {{ ref('stg_erp__document_lines') }}
),

items as (
    select * from {{ ref('stg_erp__items') }}
),

identities as (
    select * from {{ ref('int_customer_identities_matched') }}
    where source_system = 'erp'
),

line_summary as (
    select
        lines.document_number,
        count(*) as line_count,
        count(distinct items.item_family) as item_family_count,
        string_agg(distinct items.item_family, ', ') as item_families,
        sum(lines.amount_ht) filter (where items.item_family = 'CONTRAT') as contract_amount_ht,
        min(lines.source_quote_number) as source_quote_number
    from lines
    left join items on lines.item_ref = items.item_ref
    group by lines.document_number
)

select
    documents.document_number as invoice_number,
    documents.document_kind,
    identities.customer_id,
    documents.erp_customer_code,
    documents.document_date as invoice_date,
    documents.created_at,
    documents.is_posted,
    documents.total_ht,
    documents.total_ttc,
    coalesce(line_summary.line_count, 0) as line_count,
    coalesce(line_summary.item_family_count, 0) as item_family_count,
    line_summary.item_families,
    coalesce(line_summary.contract_amount_ht, 0)::numeric(14, 2) as contract_amount_ht,
    line_summary.source_quote_number,
    case when documents.document_kind = 'credit_note' then documents.reference end as credited_invoice_number,
    -- the same customer billed the same amount twice the same day: a possible double entry
    count(*) over same_bill > 1 as is_possible_duplicate,
    -- for the second and later of such documents, the first one (the likely original)
    case
        when row_number() over same_bill_in_order > 1
            then first_value(documents.document_number) over same_bill_in_order
    end as duplicate_of_invoice_number,
    documents.modified_at,
    documents.loaded_at
from documents
left join line_summary on documents.document_number = line_summary.document_number
left join identities on documents.erp_customer_code = identities.source_record_id
window
    same_bill as (
        partition by documents.erp_customer_code, documents.document_date, documents.document_kind, documents.total_ht
    ),
    same_bill_in_order as (same_bill order by documents.created_at, documents.document_number)
