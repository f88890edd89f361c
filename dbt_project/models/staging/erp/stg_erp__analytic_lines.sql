with source as (
    select * from {{ source('erp', 'f_ecriturea') }}
),

renamed as (
    select distinct on (cbmarq)
        -- ids
        cbmarq as analytic_line_id,
        ec_no as ledger_line_id,
        upper(btrim(ca_num)) as analytic_section,

        -- numerics
        n_analytique as analytic_plan,
        ea_ligne as line_number,
        -- Sage keeps the amount positive: the side is the ledger line's (EC_Sens)
        ea_montant::numeric(14, 2) as amount_eur,
        ea_quantite::numeric(14, 3) as quantity,

        -- timestamps
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by cbmarq, cbmodification desc, _loaded_at desc
)

select * from renamed
