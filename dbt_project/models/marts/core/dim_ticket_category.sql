-- Contact motives (spec: RDV SAV, devis, réclamation, ...), shared by tickets and calls.
select
    category_code,
    cti_queue,
    label_fr,
    label_en,
    is_complaint,
    sort_order
from {{ ref('ticket_categories') }}
