"""Alert task entry points: evaluate the rules for the run, then deliver what is in the outbox.

- `evaluate_rules(schedule, context)`: the rules of `schedule` (daily: the alerts DAG, intraday:
  alerts_intraday) for the run's as-of day and reference instant (the data interval end,
  never the wall clock), written to the outbox. Fails (after writing every other rule's
  messages) when a rule could not be evaluated or a template lacked a value, naming it.
- `deliver_outbox(context)`: every message due in the outbox, whoever wrote it (rules, gate,
  reports), with retries; fails if some could not be delivered, so Airflow retries and data
  engineering hears of it - the messages stay pending, nothing is lost.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from cs_analytics.run_context import as_of_date, reference_instant
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)


class AlertRulesFailed(RuntimeError):
    pass


def _reference(context: dict[str, Any]) -> datetime:
    instant = reference_instant(context)
    if instant is None:
        raise ValueError("the run has no data interval end nor logical date: nothing to judge the rules at")
    return instant


def evaluate_rules(schedule: str, context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.alerts.engine import RunContext, evaluate
    from cs_analytics.alerts.rules import load_rules

    ruleset = load_rules()
    reference = _reference(context)
    as_of = as_of_date(context) if context.get("data_interval_end") else reference.date()
    ctx = RunContext(as_of=as_of, reference=reference, dag_id=context["dag"].dag_id, run_id=context["run_id"])
    report = evaluate(Warehouse.for_flow("alerting"), ruleset, schedule, ctx)
    for rule, counts in sorted(report.rules.items()):
        log.info("%-32s %s", rule, dict(counts))
    if report.errors:
        raise AlertRulesFailed(f"{len(report.errors)} rule error(s): " + " | ".join(report.errors))
    return {"as_of": as_of.isoformat(), "reference": reference.isoformat(), **report.to_dict()}


def deliver_outbox(context: dict[str, Any] | None = None) -> dict[str, Any]:
    from cs_analytics.alerts.channels import default_channels
    from cs_analytics.alerts.outbox import deliver_pending, undelivered

    wh = Warehouse.for_flow("alerting")
    report = deliver_pending(wh, default_channels(wh))
    log.info("outbox: %d sent, %d retrying, %d failed, %d suppressed", report.total_sent, len(report.retrying),
             len(report.failed), len(report.suppressed))  # fmt: skip
    if report.retrying or report.failed:
        waiting = undelivered(wh)
        raise RuntimeError(
            f"{len(waiting)} message(s) not delivered (kept in meta.outbox, retried): "
            + "; ".join(f"{k} [{s}] {e}" for k, s, e in waiting[:10])
        )
    return report.to_dict()


def daily_marts_ready(context: dict[str, Any]) -> bool:
    """The marts hold the day before the run's logical date (the day that just ended)."""
    from zoneinfo import ZoneInfo

    from cs_analytics.config import LOCAL_TZ

    wanted = _reference(context).astimezone(ZoneInfo(LOCAL_TZ)).date().toordinal() - 1
    wh = Warehouse.for_flow("alerting")
    exists = wh.query("select to_regclass('marts.mart_kpi_daily') is not null")[0][0]
    latest = wh.query("select max(kpi_date) from marts.mart_kpi_daily")[0][0] if exists else None
    log.info("marts.mart_kpi_daily holds up to %s; waiting for %s", latest, wanted)
    return latest is not None and latest.toordinal() >= wanted
