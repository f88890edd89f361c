{#- The last full day the marts describe: the `as_of_date` var when set (a backfill, a test),
    else the last Paris calendar day present in the CTI data. The CTI delivers a file every
    night (the night line never leaves a day empty), so it is the warehouse's clock; the
    wall clock is never used, so a rebuild of the same data gives the same marts. -#}
{% macro data_as_of_date() -%}
    {%- if var('as_of_date', '') -%}
        date '{{ var("as_of_date") }}'
    {%- else -%}
        (select max(call_date) from {{ ref('stg_cti__calls') }})
    {%- endif -%}
{%- endmacro %}

{#- The instant the as-of day ends (the next Paris midnight): "now" for open tickets. -#}
{% macro data_as_of_end() -%}
    (({{ data_as_of_date() }} + 1)::timestamp at time zone '{{ var("local_timezone") }}')
{%- endmacro %}

{#- A Paris calendar date from an instant. -#}
{% macro local_date(instant) -%}
    ({{ instant }} at time zone '{{ var("local_timezone") }}')::date
{%- endmacro %}
