with source as (
    select * from {{ source('portal', 'page_traffic') }}
),

renamed as (
    select
        -- ids
        report_date::text || '|' || page_path as page_traffic_key,
        report_date,

        -- strings
        page_path,

        -- numerics
        sessions,
        screen_page_views,
        user_engagement_seconds as engagement_seconds,
        key_events,
        _revision as revision_count,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
