-- One row per CDR file delivered to the landing folder: those the loader loaded (meta.cti_files)
-- and those whose content their day already held (re-deliveries of the same bytes).
with loaded as (
    select * from {{ source('cti_manifest', 'cti_files') }}
),

duplicates as (
    select
        *,
        -- the day in the name, as the loader reads it (cdr_YYYYMMDD[_suffix].csv)
        substring(file_name from '^cdr_([0-9]{8})') as name_day
    from {{ source('cti_manifest', 'cti_duplicate_deliveries') }}
),

renamed as (
    select
        -- ids
        sha256 || ':' || file_name as delivery_key,
        sha256 as file_sha256,

        -- strings
        file_name,

        -- numerics
        rows_loaded,
        rows_quarantined,
        encoding_errors,

        -- booleans
        false as is_duplicate_delivery,

        -- dates
        file_date,

        -- timestamps
        loaded_at as delivered_at
    from loaded
    union all
    select
        -- ids
        sha256 || ':' || file_name as delivery_key,
        sha256 as file_sha256,

        -- strings
        file_name,

        -- numerics
        0 as rows_loaded,
        0 as rows_quarantined,
        0 as encoding_errors,

        -- booleans
        true as is_duplicate_delivery,

        -- dates: a name that is no calendar day gives null (29 February: years divisible by 4)
        case
            when
                name_day ~ (
                    '^[0-9]{4}((0[13578]|1[02])(0[1-9]|[12][0-9]|3[01])|(0[469]|11)(0[1-9]|[12][0-9]|30)'
                    || '|02(0[1-9]|1[0-9]|2[0-8]))$'
                )
                or (name_day ~ '^[0-9]{4}0229$' and left(name_day, 4)::integer % 4 = 0)
                then to_date(name_day, 'YYYYMMDD')
        end as file_date,

        -- timestamps
        seen_at as delivered_at
    from duplicates
)

select * from renamed
