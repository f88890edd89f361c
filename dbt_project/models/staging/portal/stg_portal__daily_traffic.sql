with source as (
    select * from {{ source('portal', 'daily_traffic') }}
),

renamed as (
    select
        -- ids
        report_date,

        -- numerics
        sessions,
        screen_page_views,
        user_engagement_seconds as engagement_seconds,
        key_events,
        _revision as revision_count,

        -- timestamps
        _first_loaded_at as first_loaded_at,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
