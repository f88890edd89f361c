{#- Helpers of the presentation marts (marts/presentation/), which the dashboards read as they
    are shown: French labels and dates. Definitions of the KPIs themselves stay in the KPI marts. -#}

{#- A number as French text for a label ("4", "0,7", "70"): trailing zeros dropped, decimal comma. -#}
{% macro fr_number(expression) -%}
    replace(trim_scale(({{ expression }})::numeric)::text, '.', ',')
{%- endmacro %}

{#- "mai 2026" from a date. -#}
{% macro fr_month_label(date_expression) -%}
    ((array['janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre',
        'novembre', 'décembre'])[extract(month from {{ date_expression }})::integer]
        || ' ' || extract(year from {{ date_expression }})::integer)
{%- endmacro %}

{#- "09:00" from an instant, Paris time. -#}
{% macro fr_time(instant) -%}
    to_char(({{ instant }}) at time zone '{{ var("local_timezone") }}', 'HH24:MI')
{%- endmacro %}
