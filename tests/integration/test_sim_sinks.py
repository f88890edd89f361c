"""The Slack and SMTP sinks, driven by the real clients: slack_sdk, smtplib and the Airflow hooks."""

from __future__ import annotations

import json
import os
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from simulators.httpbase import serve_in_thread
from simulators.sinks import inbox, slack_api, smtp_sink
from tests.integration.cli import serving_cli

TOKEN = "xoxb-test-token"
ALERTS = slack_api.channel_id("service-client-alertes")


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[tuple[slack_api.SlackServer, str, Path]]:
    store = tmp_path / "slack"
    server = slack_api.make_server(store_dir=store, token=TOKEN)
    with serve_in_thread(server) as url:
        yield server, url, store


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    maildir = tmp_path / "mail"
    with smtp_sink.serve_in_thread(smtp_sink.make_controller(maildir=maildir)) as (host, port):
        yield host, port, maildir


# --------------------------------------------------------------------------- Slack
def test_web_client_posts_messages_and_lists_channels(slack) -> None:
    _, url, store = slack
    client = WebClient(token=TOKEN, base_url=f"{url}/api/")
    assert client.auth_test()["team_id"] == slack_api.TEAM_ID

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Pic d'appels* : 2,3 × la normale"}}]
    posted = client.chat_postMessage(channel="#service-client-alertes", text="Pic d'appels", blocks=blocks)
    assert posted["ok"] and posted["channel"] == ALERTS and posted["message"]["blocks"] == blocks
    by_id = client.chat_postMessage(channel=ALERTS, text="Suite")
    assert float(by_id["ts"]) > float(posted["ts"])

    created = client.chat_postMessage(channel="#nouveau-canal", text="Bonjour")
    channels = {c["name"]: c["id"] for c in client.conversations_list()["channels"]}
    assert channels["nouveau-canal"] == created["channel"] and channels["data-engineering"]
    with pytest.raises(SlackApiError) as unknown:
        client.chat_postMessage(channel="C0123456789", text="nowhere")
    assert unknown.value.response["error"] == "channel_not_found"

    kept = inbox.slack_messages(store, channel="#service-client-alertes")
    assert [m["text"] for m in kept] == ["Pic d'appels", "Suite"] and kept[0]["blocks"] == blocks
    assert kept[0]["channel"] == ALERTS and kept[0]["ts"] == posted["ts"]
    served = requests.get(f"{url}/_sim/messages", params={"channel": "nouveau-canal"}, timeout=5).json()
    assert [m["text"] for m in served["messages"]] == ["Bonjour"]


def test_tokens_and_form_encoded_calls(slack) -> None:
    _, url, store = slack
    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=f"{url}/api/").auth_test()
    assert bad.value.response.status_code == 200 and bad.value.response["error"] == "invalid_auth"
    assert requests.post(f"{url}/api/auth.test", timeout=5).json() == {"ok": False, "error": "not_authed"}

    form = {
        "token": TOKEN,
        "channel": "data-engineering",
        "text": "dbt build ok",
        "blocks": json.dumps([{"type": "divider"}]),
    }
    resp = requests.post(f"{url}/api/chat.postMessage", data=form, timeout=5)
    assert resp.status_code == 200 and resp.json()["ok"], resp.text
    assert inbox.slack_messages(store)[-1]["blocks"] == [{"type": "divider"}]
    empty = requests.post(f"{url}/api/chat.postMessage", data={**form, "text": "", "blocks": ""}, timeout=5)
    assert empty.json() == {"ok": False, "error": "no_text"}


def test_files_upload_v2_stores_the_file_and_a_file_message(slack) -> None:
    _, url, store = slack
    client = WebClient(token=TOKEN, base_url=f"{url}/api/")
    data_channel = slack_api.channel_id("data-engineering")
    resp = client.files_upload_v2(
        channel=data_channel,
        content="jour;appels\n2025-03-03;61\n",
        filename="appels.csv",
        title="Appels",
        initial_comment="Rapport du jour",
    )
    file_id = resp["file"]["id"]
    assert resp["file"]["title"] == "Appels" and resp["file"]["channels"] == [data_channel]
    assert (store / "files" / file_id / "appels.csv").read_text() == "jour;appels\n2025-03-03;61\n"
    (message,) = inbox.slack_messages(store, channel=data_channel)
    assert message["text"] == "Rapport du jour" and message["files"][0]["name"] == "appels.csv"
    assert message["files"][0]["size"] == 26


def test_per_channel_rate_limit_is_off_until_switched_on(slack) -> None:
    server, url, _ = slack
    client = WebClient(token=TOKEN, base_url=f"{url}/api/")
    assert all(client.chat_postMessage(channel=ALERTS, text=str(n))["ok"] for n in range(3))
    requests.post(f"{url}/_sim/faults", json={"channel_messages_per_second": 1}, timeout=5)
    client.chat_postMessage(channel=ALERTS, text="first")
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=ALERTS, text="too soon")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="#data-engineering", text="other channel")["ok"]
    server.clock_skew += 1
    assert client.chat_postMessage(channel=ALERTS, text="later")["ok"]


def test_airflow_slack_hook_reaches_the_sink_through_base_url(slack, monkeypatch) -> None:
    from airflow.providers.slack.hooks.slack import SlackHook

    _, url, store = slack
    conn = {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": f"{url}/api/"}}
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps(conn))
    hook = SlackHook(slack_conn_id="slack_test")
    assert hook.test_connection()[0] is True
    hook.client.chat_postMessage(channel="#service-client-alertes", text="Churn : 3 clients à risque")
    # Channel names go through conversations.list, as the provider's own file helper does.
    with pytest.warns(UserWarning, match="Channel ID"):
        hook.send_file_v1_to_v2(channels="#data-engineering", content="ok", filename="run.txt")
    assert [m["text"] for m in inbox.slack_messages(store, channel="service-client-alertes")] == [
        "Churn : 3 clients à risque"
    ]
    assert inbox.slack_messages(store, channel="data-engineering")[0]["files"][0]["name"] == "run.txt"


# --------------------------------------------------------------------------- SMTP
def test_smtp_sink_keeps_messages_in_the_maildir_and_index(smtp) -> None:
    host, port, maildir = smtp
    msg = EmailMessage()
    msg["From"] = "analytics@service-client.local"
    msg["To"] = "claire@service-client.local, data-eng@service-client.local"
    msg["Subject"] = "Rapport quotidien — appels"
    msg.set_content("Version texte")
    msg.add_alternative("<h1>Rapport</h1><p>61 appels</p>", subtype="html")
    msg.add_attachment(b"jour;appels\n", maintype="text", subtype="csv", filename="appels.csv")
    with smtplib.SMTP(host, port, timeout=5) as client:
        client.send_message(
            msg, to_addrs=["claire@service-client.local", "data-eng@service-client.local", "audit@service-client.local"]
        )

    (entry,) = inbox.mails(maildir)
    assert entry["subject"] == "Rapport quotidien — appels" and entry["from"] == "analytics@service-client.local"
    assert entry["to"] == [
        "claire@service-client.local",
        "data-eng@service-client.local",
        "audit@service-client.local",
    ]  # envelope recipients, Bcc included
    assert entry["message_id"] and entry["date"] and (maildir / entry["file"]).exists()
    received = inbox.read_mail(entry, maildir)
    assert "61 appels" in received.get_body(("html",)).get_content()
    assert received.get_body(("plain",)).get_content().strip() == "Version texte"
    (attachment,) = received.iter_attachments()
    assert attachment.get_filename() == "appels.csv" and attachment.get_content() == "jour;appels\n"


def test_airflow_smtp_hook_sends_to_the_sink(smtp, monkeypatch, tmp_path: Path) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    host, port, maildir = smtp
    conn = {
        "conn_type": "smtp",
        "host": host,
        "port": port,
        "login": "airflow",
        "password": "any",
        "extra": {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "analytics@service-client.local",
            "timeout": 5,
            "retry_limit": 0,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", json.dumps(conn))
    report = tmp_path / "kpi.csv"
    report.write_text("kpi;valeur\nfcr;0.72\n")
    with SmtpHook(smtp_conn_id="smtp_test") as hook:
        hook.send_email_smtp(
            to="claire@service-client.local",
            subject="KPI hebdo",
            html_content="<p>FCR <b>72 %</b></p>",
            files=[str(report)],
        )

    (entry,) = inbox.mails(maildir)
    assert entry["subject"] == "KPI hebdo" and entry["to"] == ["claire@service-client.local"]
    received = inbox.read_mail(entry, maildir)
    assert "72 %" in received.get_body(("html",)).get_content()
    assert [a.get_filename() for a in received.iter_attachments()] == ["kpi.csv"]


# --------------------------------------------------------------------------- command lines
SINK_MODULES = ["simulators.sinks.slack_api", "simulators.sinks.smtp_sink"]


@pytest.fixture
def sink_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SLACK_SIM_TOKEN": TOKEN,
        "SLACK_SIM_STORE": str(tmp_path / "slack"),
        "SMTP_SIM_MAILDIR": str(tmp_path / "mail"),
    }


@pytest.mark.parametrize("module", SINK_MODULES)
def test_sink_command_lines_stop_cleanly_on_sigterm(module: str, sink_env: dict[str, str], tmp_path: Path) -> None:
    with serving_cli(module, sink_env) as address:  # how fast they answer and stop: benchmarks/
        if module.endswith("slack_api"):
            assert WebClient(token=TOKEN, base_url=f"{address}/api/").auth_test()["ok"]
        else:
            host, port = address.rsplit(":", 1)
            with smtplib.SMTP(host, int(port), timeout=5) as client:
                client.sendmail("a@x.local", ["b@x.local"], "Subject: cli\r\n\r\nhello\r\n")
            assert inbox.mails(tmp_path / "mail")[0]["subject"] == "cli"


@pytest.mark.parametrize("module", SINK_MODULES)
def test_a_sigterm_right_after_the_banner_still_stops_cleanly(module: str, sink_env: dict[str, str]) -> None:
    """The signal handler is in place before the banner: a supervisor may stop a sink at once."""
    for _ in range(5):
        with serving_cli(module, sink_env):
            pass  # SIGTERM as soon as the banner is read; serving_cli checks the clean exit
