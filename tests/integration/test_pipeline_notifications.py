"""Pipeline alerts for data engineering: a task failing for good under a real Airflow run
(`airflow dags test`) reaches the data-engineering Slack channel and mailbox through the
notifier every DAG gets from orchestration.DEFAULT_ARGS; the marts deadline callback and the
sensor that the deadline watches."""

from __future__ import annotations

import os
import subprocess
from datetime import date

from cs_analytics.alerts.notifiers import marts_deadline_missed
from cs_analytics.alerts.tasks import daily_marts_ready
from cs_analytics.schema import ensure_schema
from tests.conftest import AIRFLOW_METADATA

pytestmark = AIRFLOW_METADATA

FAILING_DAG = '''
"""A DAG whose only task fails: the failure notifier's test."""
from airflow.sdk import dag, task

from cs_analytics.orchestration import DEFAULT_ARGS, START_DATE


@dag(dag_id="failing_probe", schedule=None, start_date=START_DATE, default_args={**DEFAULT_ARGS, "retries": 0},
     tags=["alerting"])
def failing_probe():
    @task
    def load_invoices():
        raise ValueError("the ERP answered 0 rows for a business day")

    load_invoices()


failing_probe()
'''


def test_a_task_failing_under_airflow_notifies_data_engineering(warehouse, sinks, tmp_path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "failing_probe.py").write_text(FAILING_DAG)
    env = dict(os.environ)
    env.update(
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW_CONN_WAREHOUSE=warehouse.dsn.replace("postgresql://", "postgres://", 1),
        DATA_ENGINEERING_EMAIL_TO="de@service-client.test",
        SLACK_DATA_CHANNEL="#data-engineering",
    )
    proc = subprocess.run(
        ["airflow", "dags", "test", "failing_probe", "2026-03-10T06:00:00+00:00"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "the ERP answered 0 rows" in proc.stdout + proc.stderr  # the task did fail

    (post,) = [m for m in sinks.slack("#data-engineering") if m["method"] == "chat.postMessage"]
    assert post["blocks"][0]["text"]["text"] == "🟠 Échec de failing_probe.load_invoices"
    why = post["blocks"][1]["text"]["text"]
    assert (
        "La tâche load_invoices du DAG failing_probe a échoué" in why and "ValueError: the ERP answered 0 rows" in why
    )
    (mail,) = sinks.mails()
    assert mail["to"] == ["de@service-client.test"]
    text = sinks.mail(mail).get_body(("plain",)).get_content()
    assert "Journal de la tâche : http" in text and "/tasks/load_invoices?try_number=1" in text
    assert "Exécution Airflow : " in text and "/dags/failing_probe/runs/" in text
    row = warehouse.query("select kind, rule, severity, status from meta.outbox where channel = 'email'")
    assert row == [("pipeline", "pipeline_failure", "important", "sent")]


def test_the_marts_deadline_callback_sends_a_critical_alert(warehouse, sinks, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse.dsn.replace("postgresql://", "postgres://", 1))
    monkeypatch.setenv("DATA_ENGINEERING_EMAIL_TO", "de@service-client.test")
    # the context Airflow's deadline handling passes (models/deadline.py: dag_run + deadline)
    context = {
        "dag_run": {"dag_id": "marts_deadline", "dag_run_id": "scheduled__2026-03-10T23:00:00+00:00",
                    "logical_date": "2026-03-10T23:00:00Z"},
        "deadline": {"id": "d1", "deadline_time": "2026-03-11T06:30:00+00:00"},
    }  # fmt: skip
    marts_deadline_missed(context=context)
    marts_deadline_missed(context=context)  # the callback retried: still one alert
    (post,) = sinks.slack("#data-engineering")
    assert post["text"].startswith("🔴 *CRITIQUE* — Les marts du jour ne sont pas prêts à 07:30")
    assert [m["to"] for m in sinks.mails()] == [["de@service-client.test"]]


def test_the_sensor_waits_until_the_marts_hold_the_day_that_just_ended(warehouse, monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse.dsn.replace("postgresql://", "postgres://", 1))
    run = {"data_interval_end": datetime(2026, 3, 11, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))}
    ensure_schema(warehouse)
    assert daily_marts_ready(run) is False  # no mart yet
    warehouse.execute("create table marts.mart_kpi_daily (kpi_date date)")
    warehouse.execute("insert into marts.mart_kpi_daily values (%s)", (date(2026, 3, 9),))
    assert daily_marts_ready(run) is False  # yesterday's marts only
    warehouse.execute("insert into marts.mart_kpi_daily values (%s)", (date(2026, 3, 10),))
    assert daily_marts_ready(run) is True
