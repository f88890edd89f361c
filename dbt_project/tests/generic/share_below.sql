{#- A flag that must stay rare: fails (one row: flagged, total, share) when more than `max_share`
    of the rows have `column_name` true — of the rows whose `date_column` falls in the `window_days`
    days up to the as-of day when given, so a burst today is not diluted in years of history.
    Pair it with a warning on any flagged row: a few impossible rows warn, a rate stops the line. -#}
{% test share_below(model, column_name, max_share, window_days=none, date_column=none) %}
with counted as (
    select
        count(*) filter (where {{ column_name }}) as flagged_rows,
        count(*) as total_rows
    from {{ model }}
    {%- if window_days %}
    where {{ date_column }} > {{ data_as_of_date() }} - {{ window_days }}
        and {{ date_column }} <= {{ data_as_of_date() }}
    {%- endif %}
)

select
    flagged_rows,
    total_rows,
    round(flagged_rows::numeric / total_rows, 4) as flagged_share,
    {{ max_share }} as max_share
from counted
where total_rows > 0 and flagged_rows::numeric / total_rows > {{ max_share }}
{% endtest %}
