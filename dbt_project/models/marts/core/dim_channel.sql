-- Contact and booking channels.
select
    channel_code,
    label_fr,
    label_en,
    is_online,
    is_self_service,
    is_written,
    sort_order
from {{ ref('channels') }}
