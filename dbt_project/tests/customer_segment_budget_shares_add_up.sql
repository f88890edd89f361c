-- The six segments share the whole marketing budget (004 "Allocation budgétaire recommandée").
select sum(budget_share) as total_share
from {{ ref('customer_segments') }}
having abs(sum(budget_share) - 1) > 0.0001
