{#- Use the folder's schema as is (staging, intermediate, marts) rather than dbt's
    default "<target>_<schema>": BI tools and the read-only role address fixed schemas. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
