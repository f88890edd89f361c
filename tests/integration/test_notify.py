"""Alert delivery through the real Airflow SMTP and Slack hooks to the loopback sinks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from cs_analytics.alerts.delivery import SlackWebApiPoster, SmtpEmailSender, deliver
from cs_analytics.alerts.messages import Alert
from cs_analytics.config import NotifySettings
from simulators.sinks import inbox, slack_api, smtp_sink

TOKEN = "xoxb-test"
SETTINGS = NotifySettings(
    alert_email_to=("claire@example.fr",),
    data_engineering_email_to=("de@example.fr",),
    slack_alert_channel="#alertes",
    slack_data_channel="#data-eng",
)
ALERT = Alert(
    key="calls_overload:2025-03-03",
    severity="important",
    rule="calls_overload",
    title="Surcharge d'appels le 03/03/2025",
    summary="82 appels reçus, au-dessus du seuil de 70.",
    facts=(("Appels", "82"), ("Seuil", "70")),
)


@pytest.fixture
def sinks(tmp_path, monkeypatch) -> Iterator[dict]:
    slack = slack_api.make_server(port=0, store_dir=tmp_path / "slack", token=TOKEN)
    mail = smtp_sink.make_controller(port=0, maildir=tmp_path / "mail")
    with slack_api.serve_in_thread(slack) as slack_url, smtp_sink.serve_in_thread(mail) as (host, port):
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_TEST",
            json.dumps({"conn_type": "slack", "password": TOKEN, "extra": {"base_url": f"{slack_url}/api/"}}),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SMTP_TEST",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": host,
                    "port": port,
                    "extra": {
                        "disable_ssl": True,
                        "disable_tls": True,
                        "from_email": "analytics@example.fr",
                        "retry_limit": 0,
                        "timeout": 5,
                    },
                }
            ),
        )
        yield {"slack_dir": tmp_path / "slack", "maildir": tmp_path / "mail", "slack_url": slack_url}


def test_alert_reaches_both_sinks_once_even_when_redelivered(warehouse, sinks):
    channels = dict(email=SmtpEmailSender("smtp_test"), slack=SlackWebApiPoster("slack_test"))
    report = deliver([ALERT], warehouse, settings=SETTINGS, **channels)
    assert dict(report.sent) == {("email", "important"): 1, ("slack", "important"): 1}

    mails = inbox.mails(sinks["maildir"])
    assert [m["to"] for m in mails] == [["claire@example.fr"]]
    assert "Surcharge d'appels" in mails[0]["subject"] and "IMPORTANT" in mails[0]["subject"]
    body = inbox.read_mail(mails[0], sinks["maildir"]).get_body(("html",)).get_content()
    assert "82 appels reçus" in body
    msgs = inbox.slack_messages(sinks["slack_dir"], channel="#alertes")
    assert len(msgs) == 1 and "Surcharge" in msgs[0]["text"] and msgs[0]["blocks"]

    again = deliver([ALERT], warehouse, settings=SETTINGS, **channels)
    assert again.skipped == 2 and not again.sent
    assert len(inbox.mails(sinks["maildir"])) == 1 and len(inbox.slack_messages(sinks["slack_dir"])) == 1


def test_a_failing_sink_does_not_stop_the_other_and_is_recorded(warehouse, sinks, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_BAD",
        json.dumps(
            {"conn_type": "slack", "password": "xoxb-wrong", "extra": {"base_url": f"{sinks['slack_url']}/api/"}}
        ),
    )
    with pytest.raises(RuntimeError, match=r"1 delivery\(ies\) failed: .*slack:#alertes: .*invalid_auth"):
        deliver(
            [ALERT],
            warehouse,
            settings=SETTINGS,
            email=SmtpEmailSender("smtp_test"),
            slack=SlackWebApiPoster("slack_bad"),
        )
    assert len(inbox.mails(sinks["maildir"])) == 1
    rows = dict(warehouse.query("select channel, status from meta.alert_deliveries"))
    assert rows == {"email": "sent", "slack": "failed"}
    # The retry sends only what failed.
    report = deliver(
        [ALERT], warehouse, settings=SETTINGS, email=SmtpEmailSender("smtp_test"), slack=SlackWebApiPoster("slack_test")
    )
    assert dict(report.sent) == {("slack", "important"): 1} and report.skipped == 1


def test_data_engineering_alerts_route_to_their_own_recipients():
    from cs_analytics.alerts.delivery import routes

    dq = Alert(key="k", severity="critical", title="t", summary="s", audience="data_engineering")
    assert routes(dq, SETTINGS) == [("email", "de@example.fr"), ("slack", "#data-eng")]
