with source as (
    select * from {{ source('weather', 'daily_observations') }}
),

renamed as (
    select
        -- ids
        weather_date,

        -- numerics
        temperature_mean_c,
        temperature_max_c,
        temperature_min_c,
        precipitation_mm,
        latitude as grid_latitude,
        longitude as grid_longitude,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
