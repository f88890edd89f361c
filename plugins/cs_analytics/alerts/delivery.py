"""Deliver alerts by email (Airflow SMTP connection) and Slack (Airflow Slack connection).

Every delivery is recorded in `meta.alert_deliveries`, keyed on (alert key, channel,
recipient): a retried or re-run task sends only what has not been sent yet. A failed
send is recorded with its error and makes the task fail after the others were tried.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from cs_analytics.alerts.messages import Alert, email_html, email_subject, slack_blocks, slack_text
from cs_analytics.config import SLACK_CONN_ID, SMTP_CONN_ID, NotifySettings
from cs_analytics.schema import ensure_schema

log = logging.getLogger(__name__)


class EmailSender(Protocol):
    def send(self, to: str, subject: str, html: str, files: list[str] | None = None) -> None: ...


class SlackPoster(Protocol):
    def post(self, channel: str, text: str, blocks: list[dict] | None = None) -> None: ...


class SmtpEmailSender:
    def __init__(self, conn_id: str = SMTP_CONN_ID):
        self.conn_id = conn_id

    def send(self, to: str, subject: str, html: str, files: list[str] | None = None) -> None:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        with SmtpHook(smtp_conn_id=self.conn_id) as hook:
            hook.send_email_smtp(to=to, subject=subject, html_content=html, files=files or [])


class SlackWebApiPoster:
    """slack_sdk WebClient through the Airflow Slack hook (base_url from the connection extra)."""

    def __init__(self, conn_id: str = SLACK_CONN_ID):
        from airflow.providers.slack.hooks.slack import SlackHook

        self.hook = SlackHook(slack_conn_id=conn_id)

    def post(self, channel: str, text: str, blocks: list[dict] | None = None) -> None:
        self.hook.client.chat_postMessage(channel=channel, text=text, blocks=blocks)


@dataclass
class DeliveryReport:
    sent: Counter = field(default_factory=Counter)  # (channel, severity) -> count
    skipped: int = 0  # already delivered by an earlier attempt
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "sent": [{"channel": c, "severity": s, "count": n} for (c, s), n in sorted(self.sent.items())],
            "skipped_already_sent": self.skipped,
            "failures": self.failures,
        }


def routes(alert: Alert, settings: NotifySettings) -> list[tuple[str, str]]:
    """(channel, recipient) pairs for an alert's audience."""
    if alert.audience == "data_engineering":
        emails, channel = settings.data_engineering_email_to, settings.slack_data_channel
    else:
        emails, channel = settings.alert_email_to, settings.slack_alert_channel
    return [*(("email", e) for e in emails), ("slack", channel)]


def deliver(
    alerts: list[Alert],
    warehouse,
    email: EmailSender | None = None,
    slack: SlackPoster | None = None,
    settings: NotifySettings | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> DeliveryReport:
    settings = settings or NotifySettings.from_env()
    email = email or SmtpEmailSender()
    slack = slack or SlackWebApiPoster()
    report = DeliveryReport()
    ensure_schema(warehouse)
    done = {
        (k, c, r)
        for k, c, r in warehouse.query(
            "select alert_key, channel, recipient from meta.alert_deliveries where status = 'sent' "
            "and alert_key = any(%s)",
            ([a.key for a in alerts],),
        )
    }
    for alert in alerts:
        for channel, recipient in routes(alert, settings):
            if (alert.key, channel, recipient) in done:
                report.skipped += 1
                continue
            error = None
            try:
                if channel == "email":
                    email.send(recipient, email_subject(alert), email_html(alert))
                else:
                    slack.post(recipient, slack_text(alert), slack_blocks(alert))
                report.sent[(channel, alert.severity)] += 1
            except Exception as exc:  # one failing sink must not stop the other deliveries
                error = f"{type(exc).__name__}: {exc}".replace("\n", " ")
                report.failures.append(f"{alert.key} -> {channel}:{recipient}: {error}")
                log.error("delivery failed: %s -> %s:%s: %s", alert.key, channel, recipient, error)
            warehouse.execute(
                """
                insert into meta.alert_deliveries (alert_key, channel, recipient, severity, audience, rule, title,
                    status, error, dag_id, run_id)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (alert_key, channel, recipient) do update set status = excluded.status,
                    error = excluded.error, dag_id = excluded.dag_id, run_id = excluded.run_id, delivered_at = now()
                """,
                (
                    alert.key,
                    channel,
                    recipient,
                    alert.severity,
                    alert.audience,
                    alert.rule,
                    alert.title,
                    "failed" if error else "sent",
                    error,
                    dag_id,
                    run_id,
                ),
            )
    if report.failures:
        raise RuntimeError(f"{len(report.failures)} delivery(ies) failed: " + "; ".join(report.failures))
    return report
