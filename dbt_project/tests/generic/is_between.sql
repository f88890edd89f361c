{#- Every non-null value lies in [min_value, max_value] (the package hub being out of reach). -#}
{% test is_between(model, column_name, min_value=none, max_value=none) %}
{%- set low = min_value if min_value is not none else 'null' -%}
{%- set high = max_value if max_value is not none else 'null' -%}
select {{ column_name }}
from {{ model }}
where
    {{ column_name }} < coalesce({{ low }}, {{ column_name }})
    or {{ column_name }} > coalesce({{ high }}, {{ column_name }})
{% endtest %}
