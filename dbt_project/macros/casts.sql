{#- Casts of the API's string properties that yield null instead of failing the whole model
    on one malformed value (the raw payload keeps the original). -#}

{% macro try_cast_integer(expression) -%}
    (case when btrim({{ expression }}) ~ '^-?[0-9]+$' then btrim({{ expression }})::integer end)
{%- endmacro %}

{% macro try_cast_numeric(expression) -%}
    (case when btrim({{ expression }}) ~ '^-?[0-9]+(\.[0-9]+)?$' then btrim({{ expression }})::numeric end)
{%- endmacro %}

{#- ISO-8601 instants with an offset or Z (HubSpot, the app). -#}
{% macro try_cast_instant(expression) -%}
    (case
        when {{ expression }} ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2})$'
            then ({{ expression }})::timestamptz
    end)
{%- endmacro %}
