with source as (
    select * from {{ source('erp', 'f_ecriturec') }}
),

renamed as (
    select distinct on (ec_no)
        -- ids
        ec_no as ledger_line_id,
        btrim(jo_num) as journal_code,
        nullif(btrim(ec_piece), '') as piece_number,
        nullif(btrim(ec_refpiece), '') as piece_reference,
        btrim(cg_num) as general_account,
        nullif(upper(btrim(ct_num)), '') as third_party_account,

        -- strings
        nullif(btrim(ec_intitule), '') as line_label,
        -- French chart of accounts: 6 expenses, 7 income, 1-5 balance sheet
        left(btrim(cg_num), 1) as account_class,

        -- numerics
        ec_montant::numeric(14, 2) as amount_eur,
        -- debit positive, credit negative: an expense account's signed sum is its net cost
        (case ec_sens when 0 then ec_montant else -ec_montant end)::numeric(14, 2) as signed_amount_eur,

        -- booleans
        ec_sens = 0 as is_debit,

        -- dates: the accounting date is the period (JM_Date, first day of the month) + EC_Jour - 1;
        -- EC_Date is the day the line was keyed; Sage writes 1753-01-01 for "no date"
        {{ local_date('jm_date') }} as period_month,
        {{ local_date('jm_date') }} + ec_jour - 1 as entry_date,
        {{ local_date('ec_date') }} as keyed_date,
        case when ec_echeance >= timestamptz '1900-01-01' then {{ local_date('ec_echeance') }} end as due_date,

        -- timestamps
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by ec_no, cbmodification desc, _loaded_at desc
)

select * from renamed
