"""The delivery channels, one module each: `email` (SMTP), `slack` (slack_sdk), `crm` (HubSpot
tasks and lists). Each has `send(message, checkpoint)` for the outbox (`alerts/outbox.py`).

`default_channels(warehouse)` builds all four from the Airflow connections (`smtp_default`,
`slack_api`, `crm_api`); a channel whose connection is missing is left out and its messages
wait in the outbox (retried) until it is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cs_analytics.config import AlertSettings

log = logging.getLogger(__name__)


def contact_opted_out(warehouse) -> Callable[[str], bool]:
    """A CRM contact's e-mail opt-out as the warehouse has it now (staging reads raw_crm, which the
    intraday DAG refreshes every 15 minutes); an unknown contact counts as opted out."""

    def lookup(contact_id: str) -> bool:
        rows = warehouse.query(
            "select is_email_opted_out from staging.stg_crm__contacts where contact_id = %s", (contact_id,)
        )
        return True if not rows else bool(rows[0][0])

    return lookup


def default_channels(warehouse, settings: AlertSettings | None = None) -> dict:
    from cs_analytics.alerts.channels.crm import CrmListChannel, CrmTaskChannel, HubSpotWriter
    from cs_analytics.alerts.channels.email import EmailChannel, SmtpServer
    from cs_analytics.alerts.channels.slack import SlackChannel

    settings = settings or AlertSettings.from_env()
    channels: dict = {}
    builders = {
        "email": lambda: EmailChannel(SmtpServer.from_connection(), settings.email_from, contact_opted_out(warehouse)),
        "slack": SlackChannel.from_connection,
        "crm": HubSpotWriter.from_connection,
    }
    for name, build in builders.items():
        try:
            built = build()
        except LookupError as exc:  # connection not defined
            log.warning("channel %s not configured, its messages stay in the outbox: %s", name, exc)
            continue
        if name == "crm":
            channels["crm_task"], channels["crm_list"] = CrmTaskChannel(built), CrmListChannel(built)
        else:
            channels[name] = built
    return channels
