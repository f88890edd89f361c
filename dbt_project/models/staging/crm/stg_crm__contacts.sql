with source as (
    select
        *,
        payload -> 'properties' as props
    from {{ source('crm', 'contacts') }}
),

renamed as (
    -- the raw table keeps one version per id; the latest version wins should it ever hold more
    select distinct on (id)
        -- ids
        id as contact_id,
        nullif(upper(btrim(props ->> 'code_client_erp')), '') as erp_customer_code,
        nullif(props ->> 'hubspot_owner_id', '') as owner_id,

        -- strings
        nullif(btrim(props ->> 'firstname'), '') as first_name,
        nullif(btrim(props ->> 'lastname'), '') as last_name,
        nullif(btrim(props ->> 'company'), '') as company_name,
        {{ normalize_email("props ->> 'email'") }} as email,
        {{ normalize_phone_e164("props ->> 'phone'") }} as phone_e164,
        {{ normalize_phone_e164("props ->> 'mobilephone'") }} as mobile_phone_e164,
        nullif(btrim(props ->> 'address'), '') as street,
        nullif(btrim(props ->> 'zip'), '') as postal_code,
        nullif(btrim(props ->> 'city'), '') as city,
        nullif(lower(props ->> 'lifecyclestage'), '') as lifecycle_stage,
        nullif(lower(props ->> 'type_client'), '') as customer_type,
        nullif(lower(props ->> 'statut_client'), '') as customer_status,

        -- booleans
        coalesce(lower(props ->> 'vip') = 'true', false) as is_vip,
        -- HubSpot's "Unsubscribed from all email": no marketing or automated e-mail may reach them
        coalesce(lower(props ->> 'hs_email_optout') = 'true', false) as is_email_opted_out,
        archived as is_archived,

        -- timestamps
        source_created_at as created_at,
        source_updated_at as updated_at,
        -- date_perte is midnight UTC of the loss date
        ({{ try_cast_instant("props ->> 'date_perte'") }} at time zone 'UTC')::date as lost_date,

        -- metadata
        _record_hash as record_hash,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
    order by id, source_updated_at desc, _loaded_at desc
)

select * from renamed
