"""Quality-gate task callable: validate, store the history, alert and fail on critical failures."""

from __future__ import annotations

import logging
from typing import Any

from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)


class QualityGateFailed(RuntimeError):
    pass


def run_quality_gate(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.config import WAREHOUSE_CONN_ID
    from cs_analytics.connections import sqlalchemy_url
    from cs_analytics.notify.delivery import deliver
    from cs_analytics.notify.messages import Alert
    from cs_analytics.quality.gate import load_suite_specs, run_gate, store_results

    run_id = context["run_id"]
    wh = Warehouse.from_connection()
    result = run_gate(load_suite_specs(), run_id=run_id, connection_string=sqlalchemy_url(WAREHOUSE_CONN_ID))
    store_results(wh, result)
    for o in result.warnings:
        log.warning("DQ warning: %s %s %s observed=%s", o.suite, o.expectation, o.column or "", o.observed_value)
    if not result.passed:
        failed = result.critical_failures
        alert = Alert(
            key=f"quality_gate_failed:{run_id}",
            severity="critical",
            audience="data_engineering",
            rule="quality_gate",
            title=f"Quality gate failed: {len(failed)} critical expectation(s)",
            summary="The marts were not published; ML scoring and business alerts are on hold.",
            details=tuple(
                f"{o.suite}: {o.expectation}({o.column or ''}) observed={o.observed_value} "
                f"unexpected={o.unexpected_count}"
                for o in failed
            ),
            link=result.data_docs,
        )
        deliver([alert], wh, dag_id=context["dag"].dag_id, run_id=run_id)
        raise QualityGateFailed("; ".join(alert.details))
    return result.to_dict()
