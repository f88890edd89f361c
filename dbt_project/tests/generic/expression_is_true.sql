{#- Every row satisfies a boolean SQL expression (optionally only the rows matching `where`). -#}
{% test expression_is_true(model, expression) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
