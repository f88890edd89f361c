"""Routing alerts to their audiences' channels, and sending ready-made alerts now.

`route_alert(alert, audiences, channels, notify)` gives one outbox message per channel and
recipient (the rules engine uses it too).

Sending ready-made alerts now, through the outbox: for code that raises an alert itself (the
quality gate, the pipeline-failure notifier, the marts deadline) rather than a rule's query.

`deliver(alerts, warehouse)` routes each alert to its audience's channels - those of the event
rule named by `alert.rule` in rules.yml when there is one (severity, audience and channels are
configured there), else the alert's own audience on Slack and e-mail - writes the messages to the
outbox and delivers them. A message that cannot be delivered now stays in the outbox for the
next delivery run; this call then raises, after every other message was tried.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from cs_analytics.alerts.messages import Alert, OutboxMessage, alert_email, alert_slack
from cs_analytics.alerts.outbox import DeliveryReport, send_now
from cs_analytics.config import NotifySettings, OutboxSettings

log = logging.getLogger(__name__)


def route_alert(alert: Alert, audiences: tuple[str, ...], channels: tuple[str, ...], notify: NotifySettings,
                kind: str = "alert") -> list[OutboxMessage]:  # fmt: skip
    """One message per channel and recipient of each audience (an address or Slack channel shared
    by two audiences gets it once)."""
    messages: dict[str, OutboxMessage] = {}
    email = alert_email(alert) if "email" in channels else None
    slack = alert_slack(alert) if "slack" in channels else None
    for name in audiences:
        audience = notify.audience(name)
        recipients = []
        if email is not None:
            recipients += [(a, email) for a in audience.emails]
        if slack is not None:
            recipients.append((audience.slack_channel, slack))
        for recipient, content in recipients:
            m = OutboxMessage.create(
                alert.key, kind, recipient, content, rule=alert.rule or None, severity=alert.severity,
                audience=name, entity=alert.entity, title=alert.title,
            )  # fmt: skip
            messages.setdefault(m.key, m)
    return list(messages.values())


def alert_messages(alerts: Sequence[Alert], notify: NotifySettings, kind: str = "alert"):
    from cs_analytics.alerts.rules import RuleFileError, load_rules

    try:
        ruleset = load_rules()
    except RuleFileError:
        log.exception("rules file refused: alerts raised by code keep their own routing")
        ruleset = None
    messages = []
    for alert in alerts:
        rule = ruleset.by_name(alert.rule) if ruleset and alert.rule else None
        if rule is not None and rule.schedule == "event":
            alert = alert.with_(severity=rule.severity)
            audiences, channels = rule.audience, rule.channels
        else:
            audiences, channels = (alert.audience,), ("slack", "email")
        messages += route_alert(alert, audiences, channels, notify, kind)
    return messages


def deliver(
    alerts: Sequence[Alert],
    warehouse,
    channels: Mapping | None = None,
    settings: NotifySettings | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    outbox_settings: OutboxSettings | None = None,
    kind: str = "alert",
) -> DeliveryReport:
    from cs_analytics.alerts.channels import default_channels

    notify = settings or NotifySettings.from_env()
    messages = alert_messages(alerts, notify, kind)
    report = send_now(
        warehouse,
        messages,
        channels if channels is not None else default_channels(warehouse),
        dag_id=dag_id,
        run_id=run_id,
        settings=outbox_settings,
    )
    problems = report.failed + report.retrying
    if problems:
        raise RuntimeError(
            f"{len(problems)} message(s) not delivered yet (kept in meta.outbox): " + "; ".join(problems)
        )
    return report
