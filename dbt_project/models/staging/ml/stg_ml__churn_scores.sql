with source as (
    {{ source_or_empty('ml', 'churn_scores') }}
),

renamed as (
    select
        -- ids
        customer_id,

        -- dates
        as_of_date,

        -- numerics
        score as churn_score,
        probability as churn_probability,
        model_version,

        -- strings
        band as risk_band,
        reasons,
        reason_features,

        -- metadata
        scored_at
    from source
)

select * from renamed
