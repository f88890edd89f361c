{#- Identity keys, normalised the same way in every staging model so they can be joined. -#}

{#- A French (or already international) phone number in E.164, whatever its spelling:
    `06 12 34 56 78`, `06.12.34.56.78`, `0612345678`, `+33 6 12 34 56 78`, `+33 (0)6 ...`,
    `0033612345678` all give `+33612345678`. Anything else is null. -#}
{% macro normalize_phone_e164(column) -%}
    (case
        when regexp_replace({{ column }}, '[^0-9+]', '', 'g') ~ '^\+33[1-9][0-9]{8}$'
            then regexp_replace({{ column }}, '[^0-9+]', '', 'g')
        when regexp_replace({{ column }}, '[^0-9+]', '', 'g') ~ '^\+330[1-9][0-9]{8}$'
            then '+33' || substr(regexp_replace({{ column }}, '[^0-9+]', '', 'g'), 5)
        when regexp_replace({{ column }}, '[^0-9]', '', 'g') ~ '^0033[1-9][0-9]{8}$'
            then '+33' || substr(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 5)
        when regexp_replace({{ column }}, '[^0-9+]', '', 'g') ~ '^0[1-9][0-9]{8}$'
            then '+33' || substr(regexp_replace({{ column }}, '[^0-9]', '', 'g'), 2)
        when regexp_replace({{ column }}, '[^0-9+]', '', 'g') ~ '^\+[1-9][0-9]{6,14}$'
            then regexp_replace({{ column }}, '[^0-9+]', '', 'g')
    end)
{%- endmacro %}

{#- E-mail addresses compare case-insensitively and without surrounding blanks. -#}
{% macro normalize_email(column) -%}
    nullif(lower(btrim({{ column }})), '')
{%- endmacro %}
