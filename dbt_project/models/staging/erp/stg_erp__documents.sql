with source as (
    select * from {{ source('erp', 'f_docentete') }}
    where do_domaine = 0  -- sales
),

renamed as (
    -- Sage keys a document on (domain, type, number) and changes its type when an invoice is
    -- posted (6 -> 7): the raw table then holds both versions. The latest one wins.
    select distinct on (do_piece)
        -- ids
        btrim(do_piece) as document_number,
        nullif(upper(btrim(do_tiers)), '') as erp_customer_code,
        nullif(btrim(do_ref), '') as reference,
        cbmarq as erp_row_id,

        -- strings
        case
            when do_piece like 'DE%' then 'quote'
            when do_piece like 'BC%' then 'order'
            when do_piece like 'BL%' then 'delivery_note'
            when do_piece like 'AV%' then 'credit_note'
            when do_piece like 'FA%' then 'invoice'
            else 'other'
        end as document_kind,

        -- numerics
        do_type as document_type,
        do_statut as document_status,
        do_totalht::numeric(14, 2) as total_ht,
        do_totalttc::numeric(14, 2) as total_ttc,

        -- booleans
        do_type = 7 as is_posted,

        -- timestamps
        {{ local_date('do_date') }} as document_date,
        cbcreation as created_at,
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by do_piece, cbmodification desc, do_type desc, _loaded_at desc
)

select * from renamed
