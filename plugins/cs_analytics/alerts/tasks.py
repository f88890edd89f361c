"""Alert task callables: evaluate the rules for the run's day and deliver."""

from __future__ import annotations

import logging
from typing import Any

from cs_analytics.run_context import as_of_date
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)


def evaluate_and_deliver(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.alerts.delivery import deliver
    from cs_analytics.alerts.rules import evaluate

    wh = Warehouse.from_connection()
    asof = as_of_date(context)
    alerts = evaluate(wh, asof)
    log.info("%d alert(s) as of %s: %s", len(alerts), asof, ", ".join(a.key for a in alerts) or "none")
    report = deliver(alerts, wh, dag_id=context["dag"].dag_id, run_id=context["run_id"])
    return {"as_of": asof.isoformat(), "alerts": [a.key for a in alerts], **report.to_dict()}
