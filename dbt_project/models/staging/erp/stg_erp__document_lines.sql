with source as (
    select * from {{ source('erp', 'f_docligne') }}
    where do_domaine = 0  -- sales
),

renamed as (
    select distinct on (cbmarq)
        -- ids
        cbmarq as document_line_id,
        btrim(do_piece) as document_number,
        nullif(upper(btrim(ct_num)), '') as erp_customer_code,
        nullif(btrim(ar_ref), '') as item_ref,
        nullif(btrim(dl_piecede), '') as source_quote_number,

        -- strings
        nullif(btrim(dl_design), '') as designation,

        -- numerics
        do_type as document_type,
        dl_ligne as line_number,
        dl_qte::numeric(14, 3) as quantity,
        dl_prixunitaire::numeric(14, 2) as unit_price_ht,
        dl_montantht::numeric(14, 2) as amount_ht,

        -- timestamps
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by cbmarq, cbmodification desc, _loaded_at desc
)

select * from renamed
