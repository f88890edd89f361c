{#- The incremental facts re-read what was loaded since their latest load, minus a lookback
    window (var incremental_lookback_days): a late CTI file or a CRM record updated days later
    has a recent `loaded_at`, whatever its event date, so it is picked up; the merge on the
    unique key makes the overlap harmless. A full refresh reads everything. -#}
{% macro incremental_window(loaded_at_column='loaded_at') -%}
    {%- if is_incremental() -%}
        {{ loaded_at_column }} > (
            select coalesce(max(existing.loaded_at), '-infinity'::timestamptz)
                - interval '{{ var("incremental_lookback_days") }} days'
            from {{ this }} as existing
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
