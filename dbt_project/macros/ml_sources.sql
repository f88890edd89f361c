{#- The rows of an `ml` source table, or none (typed as the source declares its columns) while
    the model that writes it has not run yet: a fresh warehouse builds its marts before the
    first scoring run, and the dashboards then show an empty tile instead of failing the build.
    The ml_scoring DAG rebuilds the `ml_outputs` models once it has written (dags/ml_scoring.py). -#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = adapter.get_relation(
        database=source(source_name, table_name).database,
        schema=source(source_name, table_name).schema,
        identifier=source(source_name, table_name).identifier,
    ) if execute else none -%}
    {%- if relation is not none or not execute -%}
        select * from {{ source(source_name, table_name) }}
    {%- else -%}
        {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
        select
        {%- for column in node.columns.values() %}
            null::{{ column.data_type }} as {{ column.name }}{{ "," if not loop.last }}
        {%- endfor %}
        where false
    {%- endif -%}
{%- endmacro %}
