with source as (
    {{ source_or_empty('ml', 'customer_segments') }}
),

renamed as (
    select
        -- ids
        customer_id,

        -- dates
        as_of_date,

        -- numerics
        cluster as cluster_number,
        recency_days,
        frequency as purchase_count,
        monetary_eur,
        model_version,

        -- strings
        segment
    from source
)

select * from renamed
