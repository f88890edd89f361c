"""Report task entry points (the report_* DAGs): wait for the period's marts, then send.

- `marts_fresh(name, context)`: the sensor's poke - True once the period's marts are complete
  and published (reports/freshness.py). The DAG bounds the wait; when it runs out the report
  goes out anyway, with its "données incomplètes" banner.
- `send_report(name, context)`: builds the report of the run's period (the last complete one
  before the run's instant, never the wall clock), writes its messages to the outbox under
  `report:<name>:<period>` keys and delivers them. Once per period: when the outbox already
  holds the period's report, a re-run or a retry builds nothing and only delivers what is still
  pending. Fails (Airflow retries) while a message could not be delivered; it stays pending.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from cs_analytics.config import AUDIENCE_SETTINGS, Audience, email_list, slack_channel
from cs_analytics.reports.catalog import ReportSpec, report
from cs_analytics.reports.periods import Period
from cs_analytics.run_context import reference_instant

log = logging.getLogger(__name__)


def run_period(spec: ReportSpec, context: dict[str, Any]) -> Period:
    instant = reference_instant(context)
    if instant is None:
        raise ValueError(f"report {spec.name}: the run has no logical date: no period to report on")
    return Period.ending_before(spec.kind, instant)


def audiences(spec: ReportSpec) -> list[Audience]:
    """The report's recipients from the environment; an empty or malformed list is an error
    naming its variable (config.email_list, config.slack_channel)."""
    out = []
    for name in spec.audiences:
        email_var, email_default, slack_var, slack_default = AUDIENCE_SETTINGS[name]
        out.append(Audience(name, email_list(email_var, email_default), slack_channel(slack_var, slack_default)))
    return out


def messages(content, spec: ReportSpec, recipients: list[Audience], dashboard: str | None = None) -> list:
    """One e-mail per address and one Slack summary per channel (an address or a channel two
    audiences share gets it once)."""
    from cs_analytics.alerts.messages import OutboxMessage
    from cs_analytics.reports import render

    group = spec.group_key(content.period.key)
    mail = render.email(content, spec.audiences, dashboard)
    post = render.slack(content, spec.audiences, dashboard)
    out: dict[str, OutboxMessage] = {}
    for audience in recipients:
        targets = [(address, mail) for address in audience.emails] + [(audience.slack_channel, post)]
        for recipient, message in targets:
            m = OutboxMessage.create(group, "report", recipient, message, audience=audience.name,
                                     entity=content.period.key, title=mail.subject)  # fmt: skip
            out.setdefault(m.key, m)
    return list(out.values())


def _dashboard(spec: ReportSpec) -> str | None:
    from cs_analytics.alerts.rules import load_rules
    from cs_analytics.config import AlertSettings

    page = "operations" if spec.kind in ("day", "week") else "direction"
    path = load_rules().links.get(page)
    return f"{AlertSettings.from_env().dashboard_base_url}{path}" if path else None


def marts_fresh(name: str, context: dict[str, Any]) -> bool:
    from cs_analytics.reports.freshness import check
    from cs_analytics.schema import ensure_schema
    from cs_analytics.warehouse import Warehouse

    spec = report(name)
    period = run_period(spec, context)
    wh = Warehouse.for_flow("alerting")
    ensure_schema(wh)
    if already_written(wh, spec, period):
        return True  # sent (or pending) already: nothing to wait for
    f = check(wh, spec, period)
    log.info("report %s %s: marts %s%s", name, period.key, "complete" if f.complete else "incomplete",
             "" if f.complete else " - " + "; ".join(f.problems))  # fmt: skip
    return f.complete


def already_written(wh, spec: ReportSpec, period: Period) -> bool:
    return bool(wh.query("select exists (select 1 from meta.outbox where group_key = %s)",
                         (spec.group_key(period.key),))[0][0])  # fmt: skip


def send_report(name: str, context: dict[str, Any], channels: dict | None = None, outbox_settings=None) -> dict:
    from cs_analytics.alerts.channels import default_channels
    from cs_analytics.alerts.outbox import deliver_pending, enqueue, undelivered
    from cs_analytics.reports.content import build
    from cs_analytics.reports.freshness import check
    from cs_analytics.schema import ensure_schema
    from cs_analytics.warehouse import Warehouse

    spec = report(name)
    period = run_period(spec, context)
    group = spec.group_key(period.key)
    wh = Warehouse.for_flow("alerting")
    ensure_schema(wh)
    result: dict[str, Any] = {"report": name, "period": period.key, "group_key": group}
    if already_written(wh, spec, period):
        log.info("report %s for %s is already in the outbox: not built again", name, period.key)
        result["built"] = False
    else:
        recipients = audiences(spec)  # before any work: a bad recipient list fails at once
        freshness = check(wh, spec, period)
        # the alerts listed run up to the send: a run retried (or backfilled) after its due time
        # lists what was raised meanwhile, rather than stop at the schedule's instant
        until = max(reference_instant(context), datetime.now(UTC))
        content = build(wh, spec, period, until, freshness)
        msgs = messages(content, spec, recipients, _dashboard(spec))
        with wh.transaction() as conn:
            written = enqueue(conn, msgs, dag_id=context["dag"].dag_id if context.get("dag") else None,
                              run_id=context.get("run_id"))  # fmt: skip
        result.update(built=True, complete=freshness.complete, freshness=freshness.to_dict(),
                      messages=len(written.new))  # fmt: skip
        if not freshness.complete:
            log.warning("report %s %s sent with the 'données incomplètes' banner: %s", name, period.key,
                        "; ".join(freshness.problems))  # fmt: skip
    report_ = deliver_pending(wh, channels if channels is not None else default_channels(wh), group_keys=[group],
                              settings=outbox_settings)  # fmt: skip
    result["delivery"] = report_.to_dict()
    waiting = undelivered(wh, [group])
    if waiting:
        raise RuntimeError(f"report {name} {period.key}: {len(waiting)} message(s) not delivered yet (kept in "
                           "meta.outbox, retried): " + "; ".join(f"{k} [{s}] {e}" for k, s, e in waiting[:5]))  # fmt: skip
    return result
