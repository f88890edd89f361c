{#- A type-2 dimension holds exactly one current version per durable key. -#}
{% test one_current_version_per_key(model, key, current_flag='is_current') %}
select {{ key }}
from {{ model }}
group by {{ key }}
having count(*) filter (where {{ current_flag }}) <> 1
{% endtest %}
