"""Rules to messages: evaluate, decide (cooldown, escalation, deduplication), write to the outbox.

For each rule due in this run (`RuleSet.scheduled`):

1. run its query (`Rule.query`) for the run's as-of day and reference instant;
2. turn the rows into findings: one per row (`group: entity | digest`), one for the period
   (`single`), one for the whole set (`total`, fired only above its `count_above` column);
3. decide per finding, under a row lock on `meta.alert_state (rule, entity)`:
   - already raised under the same key (a re-run, a retry): the same messages again, which the
     outbox ignores — nothing is sent twice;
   - no earlier alert, or its cooldown is over: raise (escalated if it comes back within
     `escalate.repeat_within`: the problem persists);
   - within the cooldown: nothing, unless the value is worse by `escalate.worse_by` than when
     it was raised: then escalate once (severity up, wider audience);
4. render the messages (alerts to the audiences' Slack channels and addresses, CRM tasks,
   customer e-mails, list syncs) and write them to the outbox in the same transaction as the
   new state: deciding and recording the decision are one step, so a crash in between loses
   nothing and a re-run repeats nothing.

A row missing a value a template needs is an error naming the variable: that finding sends
nothing and keeps no state (the next run tries again), the others go on, and the run reports
the errors (the task then fails, so data engineering hears of it).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cs_analytics.alerts import charts
from cs_analytics.alerts.delivery import route_alert
from cs_analytics.alerts.messages import Alert, CrmListSync, CrmTask, Email, Figure, Image, OutboxMessage
from cs_analytics.alerts.outbox import enqueue
from cs_analytics.alerts.rules import Rule, RuleSet
from cs_analytics.alerts.templates import TemplateDataError, plain, render_file
from cs_analytics.config import AlertSettings, NotifySettings
from cs_analytics.schema import ensure_schema

log = logging.getLogger(__name__)
_RANK = {"info": 0, "important": 1, "critical": 2}


@dataclass
class Finding:
    entity: str
    event: str
    value: float | None
    row: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Decision:
    finding: Finding
    action: str  # raise | escalate | again | cooldown
    key: str
    severity: str
    audience: tuple[str, ...]
    level: int
    previous_value: float | None = None

    @property
    def sends(self) -> bool:
        return self.action != "cooldown"


@dataclass
class RunContext:
    """What a run knows besides the data: its day, its instant, where its links point."""

    as_of: date
    reference: datetime
    dag_id: str | None = None
    run_id: str | None = None
    settings: AlertSettings = field(default_factory=AlertSettings.from_env)
    notify: NotifySettings = field(default_factory=NotifySettings.from_env)

    @property
    def run_link(self) -> str | None:
        if not (self.dag_id and self.run_id):
            return None
        from urllib.parse import quote

        return f"{self.settings.airflow_base_url}/dags/{self.dag_id}/runs/{quote(self.run_id, safe='')}"


@dataclass
class EvaluationReport:
    rules: dict[str, Counter] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    group_keys: set[str] = field(default_factory=set)

    def count(self, rule: str, what: str, n: int = 1) -> None:
        self.rules.setdefault(rule, Counter())[what] += n

    def to_dict(self) -> dict[str, Any]:
        return {"rules": {k: dict(v) for k, v in sorted(self.rules.items())}, "errors": self.errors}


# ----------------------------------------------------------------------------- evaluation
def evaluate(warehouse, ruleset: RuleSet, schedule: str, ctx: RunContext, only: set[str] | None = None):
    """Evaluate the rules of `schedule` and write what they decide to the outbox."""
    ensure_schema(warehouse)
    report = EvaluationReport()
    for rule in ruleset.scheduled(schedule):
        if only and rule.name not in only:
            continue
        try:
            _evaluate_rule(warehouse, ruleset, rule, ctx, report)
        except TemplateDataError as exc:
            report.errors.append(f"{rule.name}: {exc}")
        except Exception as exc:  # one broken rule must not silence the others
            log.exception("rule %s failed", rule.name)
            report.errors.append(f"{rule.name}: {type(exc).__name__}: {exc}")
    return report


def fetch_rows(warehouse, rule: Rule, ctx: RunContext) -> list[dict[str, Any]]:
    query, params = rule.query(ctx.as_of, ctx.reference)
    with warehouse.connect(autocommit=True) as conn:
        cur = conn.execute(query, params)
        names = [c.name for c in cur.description or []]
        return [{k: plain(v) for k, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def _stamp(rule: Rule, ctx: RunContext) -> str:
    start = rule.period_start(ctx.as_of)
    if start is not None:
        return start.isoformat()
    return ctx.reference.isoformat(timespec="minutes")


def findings_of(rule: Rule, rows: list[dict[str, Any]], ctx: RunContext) -> list[Finding]:
    stamp = _stamp(rule, ctx)

    def value(row: dict[str, Any]) -> float | None:
        return None if rule.value is None or row.get(rule.value) is None else float(row[rule.value])

    if rule.group == "total":
        if not rows:
            return []
        if rule.count_above is not None:
            threshold = rows[0].get(rule.count_above)
            if threshold is None or len(rows) <= float(threshold):
                return []
        return [Finding("all", stamp, float(len(rows)), rows[0], rows)]
    if rule.group == "single":
        if len(rows) > 1:
            raise ValueError(f"{rule.where}: group single expects at most one row, the query returned {len(rows)}")
        return [Finding("all", stamp, value(r), r, [r]) for r in rows]
    once = "once" if rule.period_every is None else stamp
    return [
        Finding(str(r[rule.entity]), str(r[rule.event]) if rule.event else once, value(r), r, [r])
        for r in rows
        if r.get(rule.entity) is not None
    ]


def _worse(rule: Rule, value: float | None, previous: float | None) -> bool:
    if rule.escalate is None or rule.escalate.worse_by is None or value is None or previous is None:
        return False
    if rule.worse == "higher":
        return value >= previous * (1 + rule.escalate.worse_by) if previous > 0 else value > previous
    return value <= previous * (1 - rule.escalate.worse_by)


def decide(conn, rule: Rule, finding: Finding, reference: datetime) -> Decision:
    state = conn.execute(
        "select alert_key, severity, level, value, last_raised_at, cooldown_until from meta.alert_state "
        "where rule = %s and entity = %s for update",
        (rule.name, finding.entity),
    ).fetchone()
    base = f"{rule.name}:{finding.entity}:{finding.event}"
    escalated_key = f"{base}:escalated"
    audience_up = tuple(dict.fromkeys(rule.audience + (rule.escalate.audience if rule.escalate else ())))
    if state is not None:
        key, severity, level, previous, last_raised, cooldown_until = state
        if key in (base, escalated_key):
            return Decision(finding, "again", key, severity, audience_up if level else rule.audience, level, previous)
        if reference < cooldown_until:
            if level == 0 and _worse(rule, finding.value, previous):
                return Decision(finding, "escalate", escalated_key, rule.escalate.severity, audience_up, 1, previous)
            return Decision(finding, "cooldown", base, rule.severity, rule.audience, level, previous)
        esc = rule.escalate
        if esc and esc.repeat_within is not None and reference - last_raised <= esc.repeat_within:
            return Decision(finding, "escalate", escalated_key, esc.severity, audience_up, 1, previous)
        return Decision(finding, "raise", base, rule.severity, rule.audience, 0, previous)
    return Decision(finding, "raise", base, rule.severity, rule.audience, 0, None)


def _save_state(conn, rule: Rule, d: Decision, reference: datetime) -> None:
    if d.action not in ("raise", "escalate"):
        return
    conn.execute(
        """
        insert into meta.alert_state (rule, entity, alert_key, severity, level, value, first_raised_at,
            last_raised_at, cooldown_until)
        values (%(rule)s, %(entity)s, %(key)s, %(severity)s, %(level)s, %(value)s, %(ref)s, %(ref)s, %(until)s)
        on conflict (rule, entity) do update set alert_key = excluded.alert_key, severity = excluded.severity,
            level = excluded.level, value = excluded.value, last_raised_at = excluded.last_raised_at,
            cooldown_until = excluded.cooldown_until, times_raised = meta.alert_state.times_raised + 1
        """,
        {"rule": rule.name, "entity": d.finding.entity, "key": d.key, "severity": d.severity, "level": d.level,
         "value": d.finding.value, "ref": reference, "until": reference + rule.cooldown},
    )  # fmt: skip


def _evaluate_rule(warehouse, ruleset: RuleSet, rule: Rule, ctx: RunContext, report: EvaluationReport) -> None:
    rows = fetch_rows(warehouse, rule, ctx)
    report.count(rule.name, "rows", len(rows))
    findings = findings_of(rule, rows, ctx)
    builder = MessageBuilder(ruleset, rule, ctx, warehouse)
    with warehouse.transaction() as conn:
        decisions = [decide(conn, rule, f, ctx.reference) for f in findings]
        messages: list[OutboxMessage] = []
        kept: list[Decision] = []
        for d in decisions:
            report.count(rule.name, d.action)
            if not d.sends:
                continue
            try:
                messages += builder.entity_messages(d)
            except TemplateDataError as exc:
                report.errors.append(f"{rule.name} [{d.finding.entity}]: {exc}")
                continue
            kept.append(d)
        # a digest lists what is new in this run: entities already raised under their key (a re-run)
        # were in the digest that raised them
        fresh = [d for d in kept if d.action != "again"]
        if rule.group == "digest" and fresh:
            try:
                messages += builder.digest_messages(fresh, _stamp(rule, ctx))
            except TemplateDataError as exc:
                report.errors.append(f"{rule.name} [digest]: {exc}")
                kept = []
                messages = [m for m in messages if m.kind != "alert"]
        if rule.crm_list is not None:
            messages.append(builder.list_sync(rows, _stamp(rule, ctx)))
        for d in kept:
            _save_state(conn, rule, d, ctx.reference)
        result = enqueue(conn, messages, dag_id=ctx.dag_id, run_id=ctx.run_id)
    report.count(rule.name, "messages_new", len(result.new))
    report.group_keys |= {m.group_key for m in messages}
    if builder.opted_out:
        report.count(rule.name, "customer_emails_opted_out", builder.opted_out)
    for what, n in builder.skipped.items():
        report.count(rule.name, what, n)
    log.info("rule %s: %d row(s), %s; %d new message(s)", rule.name, len(rows),
             dict(report.rules[rule.name]), len(result.new))  # fmt: skip


def business_due(instant: datetime) -> datetime:
    """A task falls due while someone is there to do it: outside opening hours (Mon-Fri, dbt's
    business hours), at the next opening. Public holidays are not skipped."""
    from zoneinfo import ZoneInfo

    from cs_analytics.config import LOCAL_TZ, business_hours

    opens, closes = business_hours()
    local = instant.astimezone(ZoneInfo(LOCAL_TZ))
    if local.isoweekday() <= 5 and opens <= local.time() < closes:
        return instant
    day = local.date() + timedelta(days=1 if local.time() >= closes or local.isoweekday() > 5 else 0)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return datetime.combine(day, opens, ZoneInfo(LOCAL_TZ))


# ----------------------------------------------------------------------------- messages
class MessageBuilder:
    def __init__(self, ruleset: RuleSet, rule: Rule, ctx: RunContext, warehouse):
        self.ruleset, self.rule, self.ctx, self.warehouse = ruleset, rule, ctx, warehouse
        self.opted_out = 0
        self.skipped: Counter = Counter()
        self._chart: Image | None | bool = False  # False: not drawn yet

    @property
    def dashboard_url(self) -> str | None:
        if not self.rule.link:
            return None
        return self.ctx.settings.dashboard_base_url + self.ruleset.links[self.rule.link]

    def context(self, d: Decision | None, row: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            **row,
            "as_of": self.ctx.as_of,
            "reference": self.ctx.reference,
            "period_start": self.rule.period_start(self.ctx.as_of),
            "rule": self.rule.name,
            "severity": d.severity if d else self.rule.severity,
            "escalated": bool(d and d.action == "escalate") or bool(d and d.level),
            "previous_value": d.previous_value if d else None,
            "dashboard_url": self.dashboard_url,
            "count": 1,
            **extra,
        }

    def _what(self, part: str, entity: str) -> str:
        return f"rule {self.rule.name} ({entity}), {part}"

    def _alert(self, key: str, severity: str, audience: str, escalated: bool, data: dict[str, Any], entity: str,
               details: tuple[str, ...] = ()) -> Alert:  # fmt: skip
        rule = self.rule
        figures = tuple(
            Figure(f.label, f.value.render(data, self._what(f"figure {f.label}", entity)),
                   f.target.render(data, self._what(f"figure {f.label} target", entity)) if f.target else None)
            for f in rule.figures
        )  # fmt: skip
        title = rule.title.render(data, self._what("title", entity))
        return Alert(
            key=key,
            severity=severity,
            title=("Escalade — " if escalated else "") + title,
            summary=rule.why.render(data, self._what("why", entity)),
            audience=audience,
            rule=rule.name,
            figures=figures,
            details=details,
            link=self.dashboard_url,
            run_link=self.ctx.run_link,
            chart=self.chart(),
            escalated=escalated,
            entity=entity,
        )

    def route(self, alert: Alert, audiences: tuple[str, ...], kind: str = "alert") -> list[OutboxMessage]:
        return route_alert(alert, audiences, self.rule.channels, self.ctx.notify, kind)

    def entity_messages(self, d: Decision) -> list[OutboxMessage]:
        rule, f = self.rule, d.finding
        data = self.context(d, f.row, count=len(f.rows) if rule.group == "total" else 1)
        messages: list[OutboxMessage] = []
        if rule.channels and rule.group in ("single", "entity", "total"):
            details = ()
            if rule.group == "total" and rule.item is not None:
                details = tuple(rule.item.render(self.context(d, r), self._what("item", f.entity)) for r in f.rows)
            alert = self._alert(d.key, d.severity, d.audience[0], d.level > 0, data, f.entity, details)
            messages += self.route(alert, d.audience)
        if rule.crm_task is not None and self._has(rule.crm_task.require, f.row, "crm_task"):
            messages.append(self.crm_task(d, data))
        if (
            rule.customer_email is not None
            and d.action == "raise"
            and self._has(rule.customer_email.require, f.row, "customer_email")
        ):
            email = self.customer_email(d, data)
            if email is not None:
                messages.append(email)
        return messages

    def _has(self, columns: tuple[str, ...], row: dict[str, Any], action: str) -> bool:
        """The row has what the action requires (rules.yml `require`); else the action is skipped, counted."""
        missing = [c for c in columns if row.get(c) is None]
        if missing:
            self.skipped[f"{action}_skipped_without_{missing[0]}"] += 1
        return not missing

    def digest_messages(self, decisions: list[Decision], stamp: str) -> list[OutboxMessage]:
        rule = self.rule
        worst = max(decisions, key=lambda d: _RANK[d.severity])
        escalated = any(d.level > 0 for d in decisions)
        audience = tuple(dict.fromkeys(a for d in decisions for a in d.audience))
        items = [d.finding.row for d in decisions]
        lines = tuple(
            ("⬆ " if d.level else "") + rule.item.render(self.context(d, d.finding.row), self._what("item", d.finding.entity))
            for d in decisions
        )  # fmt: skip
        data = self.context(worst, items[0], count=len(items), items=items)
        # the entities listed are part of the key: a re-run with one more row sends that row, once
        listed = hashlib.sha256("\n".join(sorted(d.finding.entity for d in decisions)).encode()).hexdigest()[:10]
        key = f"{rule.name}:digest:{stamp}:{listed}" + (":escalated" if escalated else "")
        alert = self._alert(key, worst.severity, audience[0], escalated, data, "digest", lines)
        return self.route(alert, audience)

    def crm_task(self, d: Decision, data: dict[str, Any]) -> OutboxMessage:
        spec, row = self.rule.crm_task, d.finding.row
        what = self._what("crm_task", d.finding.entity)
        owner = row.get(spec.owner)
        if owner is None:
            raise TemplateDataError(f"{what}: owner column {spec.owner!r} is null: nobody to assign the task to")
        task = CrmTask(
            subject=spec.subject.render(data, what + " subject"),
            body=spec.body.render(data, what + " body"),
            due_at=business_due(self.ctx.reference + spec.due_in),
            owner_id=str(owner),
            priority="HIGH" if d.level else spec.priority,
            task_type=spec.task_type,
            contact_ids=tuple(str(row[c]) for c in spec.contacts if row.get(c) is not None),
            ticket_ids=tuple(str(row[c]) for c in spec.tickets if row.get(c) is not None),
        )
        return OutboxMessage.create(
            d.key, "crm_task", str(owner), task, key=f"{d.key}|crm_task", rule=self.rule.name,
            severity=d.severity, entity=d.finding.entity,
        )  # fmt: skip

    def customer_email(self, d: Decision, data: dict[str, Any]) -> OutboxMessage | None:
        spec, row = self.rule.customer_email, d.finding.row
        what = self._what("customer e-mail", d.finding.entity)
        if spec.opted_out and row.get(spec.opted_out):
            self.opted_out += 1
            return None
        for column in (spec.to, spec.contact):
            if row.get(column) is None:
                raise TemplateDataError(f"{what}: variable {column!r} is null in the data")
        from urllib.parse import urlencode

        contact = str(row[spec.contact])
        unsubscribe = f"{self.ctx.settings.customer_unsubscribe_url}?{urlencode({'contact': contact})}"
        data = {**data, "offer": spec.offer, "unsubscribe_url": unsubscribe, "sender_name": "Le service client"}
        email = Email(
            subject=spec.subject.render(data, what + " subject"),
            html=render_file(f"{spec.template}.html", data, f"{what}, {spec.template}.html", autoescape=True),
            text=render_file(f"{spec.template}.txt", data, f"{what}, {spec.template}.txt", autoescape=False),
            headers=(("List-Unsubscribe", f"<{unsubscribe}>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")),
        )
        return OutboxMessage.create(
            d.key, "customer_email", str(row[spec.to]), email, key=f"{d.key}|customer_email",
            rule=self.rule.name, severity=None, entity=contact, title=email.subject,
        )  # fmt: skip

    def list_sync(self, rows: list[dict[str, Any]], stamp: str) -> OutboxMessage:
        spec = self.rule.crm_list
        members = tuple(sorted({str(r[spec.member]) for r in rows if r.get(spec.member) is not None}))
        return OutboxMessage.create(
            f"{self.rule.name}:list:{stamp}", "crm_list", spec.list_name, CrmListSync(spec.list_name, members),
            rule=self.rule.name, title=f"Liste « {spec.list_name} » : {len(members)} contact(s)",
        )  # fmt: skip

    # ---- charts
    def chart(self) -> Image | None:
        if self._chart is False:
            try:
                self._chart = self._draw()
            except Exception:  # a chart is a help, never a reason to hold an alert back
                log.exception("rule %s: chart not drawn", self.rule.name)
                self._chart = None
        return self._chart  # type: ignore[return-value]

    def _draw(self) -> Image | None:
        spec = self.rule.chart
        if spec is None:
            return None
        if spec.kind == "forecast":
            return forecast_chart(self.warehouse, self.ctx.as_of)
        from psycopg import sql

        rule = self.rule
        schema, table = rule.source.split(".")
        cols = [rule.period_column, spec.column] + ([spec.threshold] if spec.threshold else [])
        query = sql.SQL("select {} from {} where {} <= %s order by {} desc limit %s").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in cols),
            sql.Identifier(schema, table),
            sql.Identifier(rule.period_column),
            sql.Identifier(rule.period_column),
        )
        start = rule.period_start(self.ctx.as_of)
        with self.warehouse.connect(autocommit=True) as conn:
            rows = conn.execute(query, (start, spec.points)).fetchall()[::-1]
        if len(rows) < 2:
            return None
        png = charts.trend_png(
            f"{spec.title or spec.column} — {len(rows)} dernières périodes",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows] if spec.threshold else None,
            highlight=start,
        )
        return Image.png(f"chart_{rule.name}", png, alt=f"Évolution : {spec.title or spec.column}")


def forecast_chart(warehouse, as_of: date) -> Image | None:
    with warehouse.connect(autocommit=True) as conn:
        forecast = conn.execute(
            "select target_date, yhat, yhat_lower, yhat_upper from ml.call_volume_forecast "
            "where forecast_date = %s order by target_date",
            (as_of,),
        ).fetchall()
        history = conn.execute(
            "select kpi_date, calls_per_day, calls_per_day_alert_threshold from marts.mart_kpi_daily "
            "where kpi_date between %s and %s order by kpi_date",
            (as_of - timedelta(days=27), as_of),
        ).fetchall()
    if not forecast:
        return None
    threshold = float(history[-1][2]) if history else None
    png = charts.forecast_png(
        "Appels par jour : 28 derniers jours et prévision à 30 jours (intervalle 95 %)",
        [r[0] for r in history],
        [float(r[1]) for r in history],
        [r[0] for r in forecast],
        [float(r[1]) for r in forecast],
        [float(r[2]) for r in forecast],
        [float(r[3]) for r in forecast],
        threshold,
    )
    return Image.png("chart_forecast", png, alt="Prévision du volume d'appels avec son intervalle à 95 %")
