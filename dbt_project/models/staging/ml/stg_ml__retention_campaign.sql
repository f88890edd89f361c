with source as (
    {{ source_or_empty('ml', 'retention_campaign') }}
),

renamed as (
    select
        -- ids
        customer_id,

        -- dates
        as_of_date,

        -- numerics
        score as churn_score,
        model_version,

        -- strings
        band as risk_band,
        action as campaign_action,
        reasons
    from source
)

select * from renamed
