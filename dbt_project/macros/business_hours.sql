{#- Business hours: Mon-Fri 08:00-18:00 Europe/Paris, closed on French public holidays
    (dim_date.is_business_day). Opening and closing are wall-clock times of each day turned
    into instants with that day's UTC offset, so durations stay right across DST changes. -#}

{% macro business_day_opens_at(date_column) -%}
    (({{ date_column }} + time '{{ var("business_open_time") }}') at time zone '{{ var("local_timezone") }}')
{%- endmacro %}

{% macro business_day_closes_at(date_column) -%}
    (({{ date_column }} + time '{{ var("business_close_time") }}') at time zone '{{ var("local_timezone") }}')
{%- endmacro %}

{#- Seconds of business time between two instants: the sum, over the business days the
    interval touches, of its overlap with that day's opening window. Null when either end is
    null, 0 when the end is not after the start. One index range scan on dim_date's primary key
    per row. -#}
{% macro business_seconds_between(start_at, end_at) -%}
    (case
        when {{ start_at }} is null or {{ end_at }} is null then null
        when {{ end_at }} <= {{ start_at }} then 0
        else (
            select coalesce(sum(extract(epoch from
                least({{ end_at }}, {{ business_day_closes_at('business_day.date_day') }})
                - greatest({{ start_at }}, {{ business_day_opens_at('business_day.date_day') }})
            )), 0)
            from {{ ref('dim_date') }} as business_day
            where business_day.is_business_day
                and business_day.date_day between {{ local_date(start_at) }} and {{ local_date(end_at) }}
                and {{ business_day_opens_at('business_day.date_day') }} < {{ end_at }}
                and {{ business_day_closes_at('business_day.date_day') }} > {{ start_at }}
        )
    end)
{%- endmacro %}

{#- Calendar seconds between two instants (null when either end is null). -#}
{% macro seconds_between(start_at, end_at) -%}
    extract(epoch from ({{ end_at }} - {{ start_at }}))
{%- endmacro %}
