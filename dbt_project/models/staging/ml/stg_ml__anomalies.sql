with source as (
    {{ source_or_empty('ml', 'anomalies') }}
),

renamed as (
    select
        -- ids
        kind as anomaly_kind,
        reference as anomaly_reference,

        -- dates
        anomaly_date,
        first_detected_on,
        last_detected_on,

        -- numerics
        value as observed_value,
        expected as expected_value,
        score as anomaly_score,

        -- strings
        entity,
        metric,
        detectors,
        explanation
    from source
)

select * from renamed
