-- Customers as type-2 history (one row per version, from the snap_customers snapshot).
-- The first version of a customer is valid from the beginning of time, so facts older than
-- the first snapshot still find it; point-in-time joins use valid_from <= t < valid_to.
with versions as (
    select * from {{ ref('snap_customers') }}
),

as_of as (
    select {{ data_as_of_date() }} as as_of_date
),

sequenced as (
    select
        versions.*,
        row_number() over (partition by versions.customer_id order by versions.dbt_valid_from) as version_number
    from versions
)

select
    sequenced.dbt_scd_id as customer_version_key,
    sequenced.customer_id,
    sequenced.version_number,
    sequenced.erp_customer_code,
    sequenced.crm_contact_id,
    sequenced.app_customer_code,
    sequenced.crm_match_method as match_method,
    sequenced.customer_name,
    sequenced.segment,
    sequenced.is_vip,
    sequenced.city,
    sequenced.postal_code,
    {{ mask_email('sequenced.email') }}::text as email_masked,
    {{ pii_hash('sequenced.email') }}::text as email_sha256,
    {{ mask_phone('sequenced.phone_e164') }}::text as phone_masked,
    {{ pii_hash('sequenced.phone_e164') }}::text as phone_sha256,
    sequenced.owner_id,
    sequenced.customer_status,
    sequenced.lost_date,
    sequenced.customer_since,
    -- tenure at the end of the version (current version: at the as-of date), stopped by a loss
    greatest(
        least(
            coalesce({{ local_date('sequenced.dbt_valid_to') }}, as_of.as_of_date),
            coalesce(sequenced.lost_date, as_of.as_of_date),
            as_of.as_of_date
        ) - sequenced.customer_since,
        0
    ) as tenure_days,
    case
        when sequenced.version_number = 1 then timestamptz '1900-01-01 00:00:00+00'
        else sequenced.dbt_valid_from::timestamptz
    end as valid_from,
    sequenced.dbt_valid_to::timestamptz as valid_to,
    sequenced.dbt_valid_to is null as is_current
from sequenced
cross join as_of
