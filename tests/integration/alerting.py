"""Fixtures of the alerting tests: the loopback SMTP server and Slack-compatible Web API (the
project's sinks, reached through real smtplib and slack_sdk calls), the CRM simulator on a
small store, and the channels built from Airflow connections exactly as in production.

Import the fixtures into a test module: `from tests.integration.alerting import *`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from cs_analytics.config import Audience, NotifySettings, OutboxSettings
from simulators import crm_api, stores
from simulators.httpbase import serve_in_thread
from simulators.sinks import inbox, slack_api, smtp_sink

SLACK_TOKEN = "xoxb-alerts-test"
CRM_TOKEN = "crm-alerts-test"
FROM = "alertes@service-client.test"
BASE = datetime(2026, 3, 1, 9, tzinfo=UTC)
OWNERS = ("74301000", "74301137", "74301274")  # Claire first
# Fast retries for tests; the waits left are the servers' own Retry-After.
FAST = OutboxSettings(retry_base_s=0.2, retry_cap_s=1.0, max_attempts=4, wait_budget_s=5.0, lease_s=600)
NOTIFY = NotifySettings(
    alert_email_to=("claire@service-client.test",),
    data_engineering_email_to=("de@service-client.test",),
    slack_alert_channel="#service-client-alertes",
    slack_data_channel="#data-engineering",
    audiences={
        "service_client": Audience("service_client", ("claire@service-client.test",), "#service-client-alertes"),
        "field": Audience("field", ("gaetan@service-client.test",), "#terrain"),
        "direction": Audience("direction", ("direction@service-client.test",), "#direction"),
        "data_engineering": Audience("data_engineering", ("de@service-client.test",), "#data-engineering"),
    },
)


@dataclass
class Sinks:
    tmp: Path
    slack_url: str
    slack_server: slack_api.SlackServer
    smtp: smtp_sink.SmtpSink
    smtp_port: int
    crm_url: str
    crm_server: crm_api.CrmServer
    crm_store: Path
    stack: ExitStack = field(repr=False, default_factory=ExitStack)

    @property
    def maildir(self) -> Path:
        return self.tmp / "mail"

    def mails(self) -> list[dict]:
        return inbox.mails(self.maildir)

    def mail(self, entry: dict):
        return inbox.read_mail(entry, self.maildir)

    def slack(self, channel: str | None = None) -> list[dict]:
        return inbox.slack_messages(self.tmp / "slack", channel=channel)

    def slack_faults(self, **faults) -> None:
        requests.post(f"{self.slack_url}/_sim/faults", json=faults, timeout=5).raise_for_status()

    def crm_faults(self, **faults) -> None:
        requests.post(f"{self.crm_url}/_sim/faults", json=faults, timeout=5).raise_for_status()

    def crm_get(self, path: str, **params) -> dict:
        resp = requests.get(self.crm_url + path, params=params, timeout=5,
                            headers={"Authorization": f"Bearer {CRM_TOKEN}"})  # fmt: skip
        resp.raise_for_status()
        return resp.json()

    def crm_tasks(self) -> list[dict]:
        with stores.connect_crm(self.crm_store) as conn:
            rows = conn.execute("select id, properties from objects where object_type = 'tasks' order by 1").fetchall()
        return [{"id": r[0], **json.loads(r[1])} for r in rows]

    def stop_smtp(self) -> None:
        self.smtp.stop()

    def start_smtp(self) -> None:
        """A new server on the same port (the outage is over)."""
        self.smtp = smtp_sink.make_controller(port=self.smtp_port, maildir=self.maildir)
        self.smtp.start()


def crm_store(path: Path, contacts: int = 12, tickets: int = 6) -> Path:
    """Contacts 1..n (contact 3 opted out of e-mail), tickets 501.. tied to them, three owners."""
    conn = stores.connect_crm(path)
    iso = stores.iso_utc(BASE)
    stores.upsert_crm_objects(
        conn,
        "contacts",
        [
            {"id": str(i), "created_at": iso, "updated_at": iso,
             "properties": {"firstname": f"Prénom{i}", "lastname": f"Nom{i}", "email": f"client{i}@exemple.fr",
                            "hs_email_optout": i == 3, "hs_lastmodifieddate": iso, "lastmodifieddate": iso,
                            "hubspot_owner_id": OWNERS[i % 3], "vip": i % 4 == 0}}
            for i in range(1, contacts + 1)
        ],
    )  # fmt: skip
    stores.upsert_crm_objects(
        conn,
        "tickets",
        [
            {"id": str(500 + i), "created_at": iso, "updated_at": iso,
             "properties": {"subject": f"Panne {i}", "hs_pipeline_stage": "1", "hs_lastmodifieddate": iso,
                            "createdate": iso, "hs_contact_id": str(i), "hubspot_owner_id": OWNERS[0]}}
            for i in range(1, tickets + 1)
        ],
    )  # fmt: skip
    stores.upsert_crm_owners(
        conn,
        [
            {"id": o, "email": f"agent{k}@service-client.test", "first_name": ("Claire", "Luc", "Inès")[k],
             "last_name": "Sim", "user_id": 900 + k, "created_at": iso, "updated_at": iso}
            for k, o in enumerate(OWNERS)
        ],
    )  # fmt: skip
    conn.close()
    return path


@pytest.fixture
def sinks(tmp_path: Path, monkeypatch) -> Iterator[Sinks]:
    store = crm_store(tmp_path / "crm.sqlite")
    with ExitStack() as stack:
        slack = slack_api.make_server(port=0, store_dir=tmp_path / "slack", token=SLACK_TOKEN)
        slack_url = stack.enter_context(slack_api.serve_in_thread(slack))
        mail = smtp_sink.make_controller(port=0, maildir=tmp_path / "mail")
        mail.start()
        crm = crm_api.make_server(store_path=store, token=CRM_TOKEN, rate_limit_per_10s=0, search_per_second=0)
        crm_url = stack.enter_context(serve_in_thread(crm))
        s = Sinks(tmp_path, slack_url, slack, mail, mail.port, crm_url, crm, store)
        stack.callback(lambda: s.smtp._thread is not None and s.smtp.stop())  # unless a test stopped it
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_API",
            json.dumps({"conn_type": "slack", "password": SLACK_TOKEN, "extra": {"base_url": f"{slack_url}/api/"}}),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SMTP_DEFAULT",
            json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": mail.port,
                        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": FROM, "timeout": 5}}),
        )  # fmt: skip
        host, port = crm_url.removeprefix("http://").split(":")
        monkeypatch.setenv(
            "AIRFLOW_CONN_CRM_API",
            json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http", "password": CRM_TOKEN}),
        )
        monkeypatch.setenv("HTTP_MAX_RETRIES", "1")
        yield s


def channels(warehouse, opted_out=None) -> dict:
    """The production channels, from the connections the `sinks` fixture set."""
    from cs_analytics.alerts.channels import default_channels

    built = default_channels(warehouse)
    if opted_out is not None:
        built["email"].opted_out = opted_out
    return built


def hand_made_marts(warehouse):
    """The few mart and view columns the rules under test read, as plain tables to fill by hand."""
    from cs_analytics.schema import ensure_schema

    ensure_schema(warehouse)
    warehouse.execute(
        """
        create schema if not exists intermediate;
        create table marts.mart_kpi_daily (kpi_date date primary key, is_call_overload boolean, calls_per_day bigint,
            calls_per_day_alert_threshold integer, answered_calls bigint, inbound_calls bigint);
        create table intermediate.int_open_tickets_aged (ticket_id text, contact_id text, owner_id text, subject text,
            customer_name text, created_at timestamptz, alert_age_reached_at timestamptz, is_unanswered boolean,
            ticket_open_hours_alert_after integer default 24, tickets_open_over_24h_alert_threshold integer default 5,
            channel_code text default 'email', priority text default 'MEDIUM', is_vip boolean default false);
        create table intermediate.int_survey_answers_flagged (feedback_submission_id text, contact_id text,
            ticket_id text, ticket_subject text, customer_name text, owner_id text, response_value integer,
            submitted_at timestamptz, is_vip_dissatisfied boolean, csat_dissatisfied_below integer default 2);
        -- the clear contacts (marts_pii, alerting only) and, over them, what the marts show: an
        -- updatable view, so the tests insert contacts once through marts.dim_customer_contact
        create schema if not exists marts_pii;
        create table marts_pii.customer_contact (customer_id text, crm_contact_id text, owner_id text,
            customer_name text, first_name text, last_name text, email text, is_email_opted_out boolean,
            customer_since date, last_technician_name text, last_visit_date date, phone_e164 text);
        create view marts.dim_customer_contact as select * from marts_pii.customer_contact;
        """
    )
    return warehouse
