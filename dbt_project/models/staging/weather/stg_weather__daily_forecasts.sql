with source as (
    select * from {{ source('weather', 'daily_forecasts') }}
),

renamed as (
    select
        -- ids
        run_date || ':' || weather_date as forecast_key,
        run_date,
        weather_date,

        -- numerics
        lead_days,
        temperature_mean_c,
        temperature_max_c,
        temperature_min_c,
        precipitation_mm,

        -- metadata
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
