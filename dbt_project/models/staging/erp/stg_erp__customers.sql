with source as (
    select * from {{ source('erp', 'f_comptet') }}
),

renamed as (
    select distinct on (ct_num)
        -- ids
        upper(btrim(ct_num)) as erp_customer_code,
        cbmarq as erp_row_id,

        -- strings
        nullif(btrim(ct_intitule), '') as customer_name,
        nullif(lower(btrim(ct_qualite)), '') as customer_type,
        nullif(btrim(ct_adresse), '') as street,
        nullif(btrim(ct_codepostal), '') as postal_code,
        nullif(btrim(ct_ville), '') as city,
        {{ normalize_phone_e164('ct_telephone') }} as phone_e164,
        {{ normalize_email('ct_email') }} as email,

        -- numerics
        ct_type as account_type,

        -- booleans
        coalesce(ct_sommeil, 0) = 1 as is_dormant,

        -- timestamps
        {{ local_date('ct_datecreate') }} as created_date,
        cbcreation as created_at,
        cbmodification as modified_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by ct_num, cbmodification desc, _loaded_at desc
)

select * from renamed
