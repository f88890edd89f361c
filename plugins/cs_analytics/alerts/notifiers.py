"""Pipeline alerts for data engineering, through Airflow's notifier and deadline APIs.

- `PipelineFailureNotifier` (an `airflow.sdk.BaseNotifier`): every task's `on_failure_callback`,
  set once in `orchestration.DEFAULT_ARGS`. When a task fails for good (retries spent), data
  engineering gets a Slack message and an e-mail (rule `pipeline_failure` in rules.yml): the
  DAG, the task, the try, the error, and links to the task's log and to the run. The message
  goes through the outbox like every other; if the warehouse itself is what failed, it is sent
  directly, so a warehouse outage is still reported.
- `marts_deadline_missed`: the callback of the `marts_deadline` DAG's DeadlineAlert (Airflow 3
  deadline alerts, run by the executor): the day's marts are not published at 07:30, before
  the 8:00 report (rule `marts_deadline_missed`, critical).

Import-light: DAG files import this module at parse time (orchestration.py); the sending code
is imported when a callback runs.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


def _send(alert, dag_id: str | None, run_id: str | None) -> None:
    """Through the outbox; straight to the channels when the warehouse cannot be reached."""
    from cs_analytics.alerts.channels import default_channels
    from cs_analytics.alerts.delivery import alert_messages, deliver
    from cs_analytics.config import NotifySettings
    from cs_analytics.warehouse import Warehouse

    try:
        deliver([alert], Warehouse.for_flow("alerting"), dag_id=dag_id, run_id=run_id, kind="pipeline")
        return
    except Exception as exc:  # the warehouse is down, or a channel: try each channel directly
        log.warning("failure alert not delivered through the outbox (%s); sending it directly", exc)
    from cs_analytics.alerts.outbox import StoredMessage

    channels = default_channels(warehouse=None)
    for i, m in enumerate(alert_messages([alert], NotifySettings.from_env(), kind="pipeline")):
        channel = channels.get(m.channel)
        if channel is None:
            continue
        stored = StoredMessage(
            message_id=-1 - i, key=m.key, group_key=m.group_key, kind=m.kind, channel=m.channel,
            recipient=m.recipient, title=m.title, content=m.content, attempt=1, external_id=None,
            uncertain=False, entity=m.entity, rule=m.rule, severity=m.severity,
        )  # fmt: skip
        try:
            channel.send(stored, lambda _id: None)
        except Exception:
            log.exception("failure alert %s not sent to %s:%s", m.key, m.channel, m.recipient)


def failure_alert(context: dict[str, Any]):
    from cs_analytics.alerts.engine import RunContext
    from cs_analytics.alerts.messages import Alert, Figure
    from cs_analytics.config import AlertSettings

    ti = context.get("task_instance") or context.get("ti")
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = context.get("run_id") or getattr(ti, "run_id", "?")
    map_index = getattr(ti, "map_index", -1)
    try_number = getattr(ti, "try_number", None)
    error = context.get("exception")
    error_text = f"{type(error).__name__}: {error}" if error is not None else "no exception recorded"
    log_url = getattr(ti, "log_url", None)
    task = task_id + (f"[{map_index}]" if map_index not in (None, -1) else "")
    settings = AlertSettings.from_env()
    run_link = RunContext(as_of=None, reference=None, dag_id=dag_id, run_id=run_id, settings=settings).run_link  # type: ignore[arg-type]
    return Alert(
        key=f"pipeline_failure:{dag_id}:{task}:{run_id}:{try_number}",
        severity="important",
        audience="data_engineering",
        rule="pipeline_failure",
        title=f"Échec de {dag_id}.{task}",
        summary=f"La tâche {task} du DAG {dag_id} a échoué après ses reprises : {error_text[:600]}",
        figures=(Figure("DAG", dag_id), Figure("Tâche", task), Figure("Essai", str(try_number or "?"))),
        facts=(("Exécution", str(run_id)),),
        link=log_url,
        link_label="Journal de la tâche",
        run_link=run_link,
        entity=f"{dag_id}.{task}",
    )


class PipelineFailureNotifier(BaseNotifier):
    """on_failure_callback: tell data engineering which task failed, why, and where its log is."""

    def notify(self, context: dict[str, Any]) -> None:
        if getattr(context.get("exception"), "alerted", False):
            return  # the task raised its own, more precise alert (the quality gate)
        alert = failure_alert(context)
        _send(alert, alert.entity.split(".")[0] if alert.entity else None, context.get("run_id"))


def marts_deadline_missed(context: dict[str, Any] | None = None, **_: Any) -> None:
    """DeadlineAlert callback of the marts_deadline DAG: the day's marts are late."""
    from cs_analytics.alerts.messages import Alert

    context = context or {}
    run = context.get("dag_run") or {}
    deadline = (context.get("deadline") or {}).get("deadline_time")
    logical = run.get("logical_date") or run.get("run_after") or "?"
    dag_id = run.get("dag_id", "marts_deadline")
    run_id = run.get("dag_run_id") or run.get("run_id")
    alert = Alert(
        key=f"marts_deadline_missed:{dag_id}:{run_id}",
        severity="critical",
        audience="data_engineering",
        rule="marts_deadline_missed",
        title="Les marts du jour ne sont pas prêts à 07:30",
        summary=(
            f"Le tableau des KPI quotidiens ne contient pas encore la veille à l'échéance {deadline}: le rapport "
            "de 8:00 partira avec des données incomplètes. Vérifier les DAG d'ingestion et transform."
        ),
        facts=(("Exécution", str(run_id)), ("Date logique", str(logical))),
        entity="marts",
    )
    _send(alert, dag_id, run_id)
