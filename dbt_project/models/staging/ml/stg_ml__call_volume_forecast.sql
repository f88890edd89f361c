with source as (
    {{ source_or_empty('ml', 'call_volume_forecast') }}
),

renamed as (
    select
        -- dates
        forecast_date,
        target_date,

        -- numerics
        horizon_days,
        yhat::numeric as forecast_calls,
        yhat_lower::numeric as forecast_calls_lower,
        yhat_upper::numeric as forecast_calls_upper,

        -- strings
        model as model_name,

        -- metadata
        trained_at
    from source
)

select * from renamed
