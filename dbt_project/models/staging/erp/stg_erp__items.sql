with source as (
    select * from {{ source('erp', 'f_article') }}
),

renamed as (
    select distinct on (ar_ref)
        -- ids
        btrim(ar_ref) as item_ref,

        -- strings
        nullif(btrim(ar_design), '') as item_name,
        nullif(upper(btrim(fa_codefamille)), '') as item_family,

        -- numerics
        ar_prixven::numeric(14, 2) as sale_price_ht,

        -- timestamps
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by ar_ref, cbmodification desc, _loaded_at desc
)

select * from renamed
