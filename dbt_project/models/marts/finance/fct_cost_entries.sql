-- One row per cost posted in the Sage general ledger: each analytic share of an expense line
-- (general account of class 6), and the expense lines no section was given (rent, ...) as they
-- are. Amounts are signed (a credit note or a reversal is negative), so a section's month is
-- the sum of its rows. The period's closing status says whether the month can still change.
with ledger_lines as (
    select * from {{ ref('stg_erp__ledger_lines') }}
    where account_class = '6'
),

analytic_lines as (
    select * from {{ ref('stg_erp__analytic_lines') }}
),

periods as (
    select * from {{ ref('stg_erp__journal_periods') }}
),

split as (
    select
        ledger_lines.ledger_line_id || ':' || coalesce(analytic_lines.analytic_line_id::text, '-') as cost_entry_key,
        ledger_lines.ledger_line_id,
        analytic_lines.analytic_line_id,
        ledger_lines.journal_code,
        ledger_lines.piece_number,
        ledger_lines.piece_reference,
        ledger_lines.general_account,
        ledger_lines.line_label,
        analytic_lines.analytic_section,
        ledger_lines.period_month,
        ledger_lines.entry_date,
        ledger_lines.keyed_date,
        -- the section's share carries the ledger line's side
        case
            when analytic_lines.analytic_line_id is null then ledger_lines.signed_amount_eur
            when ledger_lines.is_debit then analytic_lines.amount_eur
            else -analytic_lines.amount_eur
        end as amount_eur,
        greatest(ledger_lines.loaded_at, analytic_lines.loaded_at) as loaded_at
    from ledger_lines
    left join analytic_lines on ledger_lines.ledger_line_id = analytic_lines.ledger_line_id
)

select
    split.cost_entry_key,
    split.ledger_line_id,
    split.analytic_line_id,
    split.journal_code,
    split.piece_number,
    split.piece_reference,
    split.general_account,
    split.line_label,
    split.analytic_section,
    coalesce(split.analytic_section = '{{ var("customer_service_section") }}', false) as is_customer_service,
    split.period_month,
    split.entry_date,
    split.keyed_date,
    split.amount_eur::numeric(14, 2) as amount_eur,
    coalesce(periods.is_closed, false) as is_period_closed,
    split.loaded_at
from split
left join periods
    on split.journal_code = periods.journal_code and split.period_month = periods.period_month
