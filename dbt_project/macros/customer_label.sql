{#- Who to call about a quote whose customer the identity match has not resolved yet (a Sage
    customer created after the day's customer extract, fixed by the next run): its source code
    rather than an empty name, so the list still says whom to look up and one such quote does not
    break the list's not-null contract. -#}
{% macro customer_label(name_column, customer_id_column, customer_code_column) -%}
    coalesce({{ name_column }}, 'client ' || coalesce({{ customer_id_column }}, {{ customer_code_column }}), 'client inconnu')
{%- endmacro %}
