{#- Customer e-mails and phones in the marts BI reads: a masked value to show and a hash to join
    on, made here and nowhere else. The clear values stay in the snapshot (transformer only) and
    in marts_pii (models/marts/restricted, read by the alerting role only: plugins/cs_analytics/roles.py). -#}

{# sha256 of the normalised value (lower-case, trimmed): equal addresses or numbers, equal hashes #}
{% macro pii_hash(column) -%}
    encode(sha256(convert_to(lower(trim({{ column }})), 'UTF8')), 'hex')
{%- endmacro %}

{# jean.dupont@example.com -> j***@example.com #}
{% macro mask_email(column) -%}
    (case when {{ column }} like '%_@_%'
        then left({{ column }}, 1) || '***@' || split_part({{ column }}, '@', 2)
    end)
{%- endmacro %}

{# +33612345612 -> 06 ** ** ** 12 (French numbers as dialled), others +44 ** ** ** 12 #}
{% macro mask_phone(column) -%}
    (case
        when {{ column }} like '+33_________' then '0' || substr({{ column }}, 4, 1) || ' ** ** ** ' || right({{ column }}, 2)
        when {{ column }} is not null then left({{ column }}, 3) || ' ** ** ** ' || right({{ column }}, 2)
    end)
{%- endmacro %}

{# A post-hook granting SELECT on the model to roles outside its schema's defaults (roles.py),
   those that exist: a dbt build on a warehouse without the flow roles still runs. #}
{% macro grant_select_to(roles) -%}
    {%- for role in roles %}
    do $$ begin
        if exists (select from pg_roles where rolname = '{{ role }}') then
            execute format('grant select on %s to %I', '{{ this }}', '{{ role }}');
        end if;
    end $$;
    {%- endfor %}
{%- endmacro %}
