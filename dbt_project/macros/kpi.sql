{#- KPI formulas, each written once and used by the daily, weekly and monthly marts. A formula
    reads the same-named components (counts and totals) of the relation it is given ('' for the
    current row), so a week's or a month's value is the formula applied to the sum of its days,
    never an average of averages. Rounding is part of the definition, and target and alert flags
    compare the published (rounded) value, so a flag never disagrees with the figure beside it. -#}

{% macro kpi_ratio(numerator, denominator, digits=4) -%}
    round(({{ numerator }})::numeric / nullif({{ denominator }}, 0), {{ digits }})
{%- endmacro %}

{#- A flag against a threshold: false while the value is unknown (no denominator). -#}
{% macro kpi_is_above(value, threshold) -%}
    coalesce({{ value }} > {{ threshold }}, false)
{%- endmacro %}

{% macro kpi_is_below(value, threshold) -%}
    coalesce({{ value }} < {{ threshold }}, false)
{%- endmacro %}

{% macro _kpi_column(relation, column) -%}
    {{ relation ~ '.' if relation else '' }}{{ column }}
{%- endmacro %}

{#- Taux d'abandon: offered calls not answered / offered calls. -#}
{% macro kpi_abandonment_rate(relation='') -%}
    {{ kpi_ratio(_kpi_column(relation, 'abandoned_calls'), _kpi_column(relation, 'offered_calls'), 4) }}
{%- endmacro %}

{#- Niveau de service: offered calls answered within service_level_seconds / offered calls. -#}
{% macro kpi_service_level(relation='') -%}
    {{ kpi_ratio(_kpi_column(relation, 'answered_within_service_level'), _kpi_column(relation, 'offered_calls'), 4) }}
{%- endmacro %}

{#- Durée moyenne de traitement: talk time of the calls the agents handled / those calls, seconds. -#}
{% macro kpi_avg_handle_seconds(relation='') -%}
    {{ kpi_ratio(_kpi_column(relation, 'handle_seconds_total'), _kpi_column(relation, 'handled_calls'), 1) }}
{%- endmacro %}

{#- Temps réponse moyen: business hours to the first reply, tickets of the written channels
    (e-mail, portal form) created in the period that have a reply. -#}
{% macro kpi_avg_first_reply_business_hours(relation='') -%}
    {{ kpi_ratio(
        _kpi_column(relation, 'written_first_reply_business_hours_total'),
        _kpi_column(relation, 'written_tickets_replied'),
        2
    ) }}
{%- endmacro %}

{#- Temps résolution moyen: business hours from creation to closing, tickets closed in the period. -#}
{% macro kpi_avg_resolution_business_hours(relation='') -%}
    {{ kpi_ratio(
        _kpi_column(relation, 'resolution_business_hours_total'), _kpi_column(relation, 'tickets_closed'), 2
    ) }}
{%- endmacro %}

{#- Taux résolution 1er contact: tickets resolved at first contact / tickets created in the period. -#}
{% macro kpi_first_contact_resolution_rate(relation='') -%}
    {{ kpi_ratio(_kpi_column(relation, 'first_contact_resolutions'), _kpi_column(relation, 'tickets_created'), 4) }}
{%- endmacro %}

{#- RDV pris en ligne (%): visits booked on the portal / visits booked. -#}
{% macro kpi_online_booking_share(relation='') -%}
    {{ kpi_ratio(
        _kpi_column(relation, 'interventions_booked_online'), _kpi_column(relation, 'interventions_booked'), 4
    ) }}
{%- endmacro %}

{#- NPS = (promoteurs - détracteurs) / répondants x 100. -#}
{% macro kpi_nps(relation='') -%}
    round(
        100.0 * ({{ _kpi_column(relation, 'nps_promoters') }} - {{ _kpi_column(relation, 'nps_detractors') }})
        / nullif({{ _kpi_column(relation, 'nps_responses') }}, 0),
        1
    )
{%- endmacro %}

{#- Satisfaction moyenne: average CSAT answer (1-5). -#}
{% macro kpi_avg_satisfaction(relation='') -%}
    {{ kpi_ratio(_kpi_column(relation, 'csat_score_total'), _kpi_column(relation, 'csat_responses'), 2) }}
{%- endmacro %}

{#- Taux réponse questionnaire: surveys sent in the period that were answered / surveys sent. -#}
{% macro kpi_survey_response_rate(relation='') -%}
    {{ kpi_ratio(
        _kpi_column(relation, 'survey_invitations_answered'), _kpi_column(relation, 'survey_invitations_sent'), 4
    ) }}
{%- endmacro %}
