{#- The last full Paris day the marts describe ("today" is its end).

    The `as_of` var (or DBT_AS_OF) is an instant (ISO-8601 with its offset): the transform DAG sets it to the
    run's data interval end, so the marts of a run describe that run's days whatever the data
    hold; the as-of day is the last full Paris day before it. Without the var (a plain
    `dbt build`, the tests' worlds) it is the day of the latest CDR file delivered: the CTI
    delivers one every night, and a file's day comes from its name, so one mis-dated call
    inside a file cannot move it. The wall clock is never read, so a rebuild of the same data
    gives the same marts. -#}
{% macro data_as_of_date() -%}
    {#- Airflow passes it as the environment variable DBT_AS_OF: a var that changes every day makes
        dbt re-parse the whole project (its partial parsing keys on the vars), an env var only the
        files that read it. The var wins: a command line's or a unit test's. -#}
    {%- set as_of = var('as_of', '') or env_var('DBT_AS_OF', '') -%}
    {%- if as_of -%}
        (('{{ as_of }}'::timestamptz at time zone '{{ var("local_timezone") }}')::date - 1)
    {%- else -%}
        (select max(source_file_date) from {{ ref('stg_cti__calls') }})
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

{#- The CTE `data_days`: the first day of the data (the first call) and the as-of day. The daily
    marts hold one row per day between them. -#}
{% macro data_days_cte() -%}
data_days as (
    select
        (select min(call_date) from {{ ref('fct_calls') }}) as first_day,
        {{ data_as_of_date() }} as last_day
)
{%- endmacro %}

{#- The CTEs `data_days` and `as_of_dates` (each month end of the history, then the as-of day
    itself) that the ML feature marts are computed at: the last as_of_date is the scoring set,
    the earlier ones the training history. -#}
{% macro ml_as_of_dates_ctes() -%}
    {{ data_days_cte() }},

as_of_dates as (
    select days.date_day as as_of_date
    from {{ ref('dim_date') }} as days
    cross join data_days
    where (days.is_month_end and days.date_day >= data_days.first_day and days.date_day < data_days.last_day)
        or days.date_day = data_days.last_day
)
{%- endmacro %}

{#- Minutes from the Paris midnight starting `day` to an instant (09:30 -> 570; the next day's
    00:30 -> 1470, so a window running past midnight stays ordered). -#}
{% macro minutes_after_local_midnight(instant, day) -%}
    (extract(epoch from ({{ instant }} at time zone '{{ var("local_timezone") }}') - {{ day }}::timestamp) / 60)::integer
{%- endmacro %}
