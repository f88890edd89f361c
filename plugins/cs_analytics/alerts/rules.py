"""The alert rules, as configuration: `rules.yml` parsed, checked and turned into SQL.

`load_rules(path)` reads the file (default: `AlertSettings.rules_file`, `ALERT_RULES_FILE`) and
refuses it at once, naming the file, the line and the name, when a rule uses an unknown key,
severity, channel, audience, relation, column or template variable, or compares a column with
a number (a threshold belongs in the marts, as a dbt var that makes an `is_*` flag or a
`*_threshold` / `*_target` column; the rule reads it there). See `rules.yml` for the format.

`Rule.query(as_of, reference)` is the SELECT a rule runs: its source relation (and joins), the
rows of its period (`period`: the as-of day, the last complete week or month), of its time
window (`window`), due at the run's instant (`due`), and meeting every `when` condition. The
engine (`alerts/engine.py`) turns the rows into alerts, CRM tasks, customer e-mails and list
syncs, with cooldown, escalation and deduplication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from psycopg import sql

from cs_analytics.alerts.catalog import relation_columns
from cs_analytics.alerts.messages import SEVERITIES
from cs_analytics.alerts.templates import Template, file_variables
from cs_analytics.config import AUDIENCE_SETTINGS

NOTIFY_CHANNELS = ("slack", "email")
SCHEDULES = ("daily", "intraday", "event")
GROUPS = ("single", "entity", "digest", "total")
PERIODS = ("day", "week", "month")
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_RELATION = re.compile(r"[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(m|min|h|d|w)")
_CONDITION = re.compile(r"(?P<neg>not\s+)?(?P<left>[a-z_][a-z0-9_]*)(?:\s*(?P<op>=|!=|<>|>=|<=|>|<)\s*(?P<right>.+?))?")
_STRING = re.compile(r"'([^']*)'")
_NULL_CONDITION = re.compile(r"(?P<col>[a-z_][a-z0-9_]*)\s+is\s+(?P<not>not\s+)?null")

# Variables every template may use besides the rule's columns.
BUILTINS = frozenset(
    {"as_of", "reference", "period_start", "rule", "count", "items", "escalated", "previous_value",
     "severity", "dashboard_url"}
)  # fmt: skip
CUSTOMER_EMAIL_BUILTINS = frozenset({"unsubscribe_url", "offer", "sender_name"})


class RuleFileError(ValueError):
    """The rules file is refused; the message names the file, the line and what is wrong."""


class _LineDict(dict):
    line: int = 0
    key_lines: dict[str, int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    d = _LineDict()
    d.line = node.start_mark.line + 1
    d.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key_node, yaml.ScalarNode) and not key_node.style and isinstance(key, bool):
            key = key_node.value  # YAML 1.1 reads the key `on` as true: keys are names here
        if key in d:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        d[key] = loader.construct_object(value_node, deep=True)
        d.key_lines[key] = key_node.start_mark.line + 1
    return d


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def parse_duration(text: Any) -> timedelta:
    if text in (0, "0", None):
        return timedelta(0)
    m = _DURATION.fullmatch(str(text).strip())
    if not m:
        raise ValueError(f"duration {text!r} is not like 30m, 4h, 7d or 2w")
    n, unit = float(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "min": timedelta(minutes=n), "h": timedelta(hours=n),
            "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]  # fmt: skip


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Condition:
    column: str
    op: str  # "is true" | "is false" | = != > >= < <=
    other_column: str | None = None
    literal: str | None = None


@dataclass(frozen=True)
class Join:
    relation: str
    on: str  # the column of the source (or an earlier join)
    alias: str
    left_alias: str  # the relation the `on` column is taken from
    right_on: str  # the joined relation's column equal to it


@dataclass(frozen=True)
class Escalation:
    severity: str
    audience: tuple[str, ...]
    worse_by: float | None  # relative change of `value` that escalates within the cooldown
    repeat_within: timedelta | None  # raised again this soon after the last time: escalate


@dataclass(frozen=True)
class CrmTaskSpec:
    subject: Template
    body: Template
    owner: str  # column
    contacts: tuple[str, ...]
    tickets: tuple[str, ...]
    due_in: timedelta
    priority: str
    task_type: str
    require: tuple[str, ...] = ()  # rows with one of these null get no task (counted, not an error)


@dataclass(frozen=True)
class CustomerEmailSpec:
    to: str  # column with the address
    contact: str  # column with the CRM contact id (opt-out)
    opted_out: str | None  # column: the warehouse's opt-out flag when decided
    subject: Template
    template: str  # file under alerts/templates/: <name>.html and <name>.txt
    offer: str
    require: tuple[str, ...] = ()  # rows with one of these null get no e-mail (counted, not an error)


@dataclass(frozen=True)
class CrmListSpec:
    list_name: str
    member: str  # column: the CRM contact id


@dataclass(frozen=True)
class ChartSpec:
    kind: str  # trend | forecast
    column: str | None
    threshold: str | None
    points: int
    title: str | None = None


@dataclass(frozen=True)
class Figure:
    label: str
    value: Template
    target: Template | None


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    severity: str
    audience: tuple[str, ...]
    channels: tuple[str, ...]
    cooldown: timedelta
    schedule: str
    file: Path
    line: int
    source: str | None = None
    joins: tuple[Join, ...] = ()
    period_column: str | None = None
    period_every: str | None = None
    window_column: str | None = None
    window_lookback: timedelta | None = None
    window_upto_now: bool = False  # rows written after the run's instant count too (processing time)
    due_column: str | None = None
    when: tuple[Condition, ...] = ()
    entity: str | None = None
    event: str | None = None
    group: str = "single"
    count_above: str | None = None
    order: tuple[tuple[str, bool], ...] = ()  # (column, descending): the order of a digest's lines
    value: str | None = None
    worse: str = "higher"
    escalate: Escalation | None = None
    title: Template | None = None
    why: Template | None = None
    item: Template | None = None
    figures: tuple[Figure, ...] = ()
    chart: ChartSpec | None = None
    link: str | None = None
    crm_task: CrmTaskSpec | None = None
    customer_email: CustomerEmailSpec | None = None
    crm_list: CrmListSpec | None = None
    columns: dict[str, str] = field(default_factory=dict)  # column -> alias of the relation holding it

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}: rule {self.name!r}"

    def period_start(self, as_of: date) -> date | None:
        if self.period_every == "day":
            return as_of
        if self.period_every == "week":  # the last complete ISO week (Monday to Sunday) ending on or before as_of
            last_sunday = as_of - timedelta(days=as_of.isoweekday() % 7)
            return last_sunday - timedelta(days=6)
        if self.period_every == "month":  # the last complete calendar month
            if (as_of + timedelta(days=1)).day == 1:
                return as_of.replace(day=1)
            return (as_of.replace(day=1) - timedelta(days=1)).replace(day=1)
        return None

    def query(self, as_of: date, reference: datetime) -> tuple[sql.Composed, dict[str, Any]]:
        """The SELECT of the rule's rows, every column it uses under its plain name."""
        if self.source is None:
            raise ValueError(f"{self.where}: an event rule has no query (its code raises it)")
        s_schema, s_table = self.source.split(".")
        parts = [sql.SQL("select ")]
        parts.append(sql.SQL(", ").join(
            sql.SQL("{} as {}").format(sql.Identifier(alias, col), sql.Identifier(col))
            for col, alias in sorted(self.columns.items())
        ))  # fmt: skip
        parts.append(sql.SQL(" from {} as src").format(sql.Identifier(s_schema, s_table)))
        for join in self.joins:
            j_schema, j_table = join.relation.split(".")
            parts.append(
                sql.SQL(" left join {} as {} on {} = {}").format(
                    sql.Identifier(j_schema, j_table),
                    sql.Identifier(join.alias),
                    sql.Identifier(join.left_alias, join.on),
                    sql.Identifier(join.alias, join.right_on),
                )
            )
        where: list[sql.Composable] = []
        params: dict[str, Any] = {}
        if self.period_column:
            where.append(sql.SQL("{} = %(period_start)s").format(self._col(self.period_column)))
            params["period_start"] = self.period_start(as_of)
        if self.window_column:
            upper = "" if self.window_upto_now else " and {c} < %(reference)s"
            where.append(sql.SQL("{c} >= %(window_start)s" + upper).format(c=self._col(self.window_column)))
            params["window_start"] = reference - (self.window_lookback or timedelta(0))
            params["reference"] = reference
        if self.due_column:
            where.append(sql.SQL("{} <= %(reference)s").format(self._col(self.due_column)))
            params["reference"] = reference
        for i, c in enumerate(self.when):
            if c.op == "is true":
                where.append(sql.SQL("{} is true").format(self._col(c.column)))
            elif c.op in ("is false", "is null", "is not null"):
                where.append(sql.SQL("{} " + c.op).format(self._col(c.column)))
            elif c.other_column is not None:
                where.append(sql.SQL("{} {} {}").format(self._col(c.column), sql.SQL(c.op), self._col(c.other_column)))
            else:
                where.append(sql.SQL("{} {} %({})s").format(self._col(c.column), sql.SQL(c.op), sql.SQL(f"lit{i}")))
                params[f"lit{i}"] = c.literal
        if where:
            parts.append(sql.SQL(" where ") + sql.SQL(" and ").join(where))
        order = [self._col(c) + sql.SQL(" desc" if desc else "") for c, desc in self.order]
        order += [self._col(c) for c in (self.entity, self.event) if c]
        if order:
            parts.append(sql.SQL(" order by ") + sql.SQL(", ").join(order))
        return sql.Composed(parts), params

    def _col(self, column: str) -> sql.Identifier:
        return sql.Identifier(self.columns[column], column)


@dataclass(frozen=True)
class RuleSet:
    file: Path
    rules: tuple[Rule, ...]
    links: dict[str, str]

    def by_name(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def scheduled(self, schedule: str) -> tuple[Rule, ...]:
        """daily runs every rule it can (the intraday ones too, as a catch-up); intraday its own."""
        wanted = ("daily", "intraday") if schedule == "daily" else (schedule,)
        return tuple(r for r in self.rules if r.schedule in wanted)


# ----------------------------------------------------------------------------- parsing
_RULE_KEYS = {
    "name", "description", "severity", "audience", "channels", "cooldown", "schedule", "source", "join",
    "period", "window", "due", "when", "entity", "event", "group", "count_above", "value", "worse",
    "escalate", "title", "why", "item", "figures", "chart", "link", "crm_task", "customer_email", "crm_list",
    "order",
}  # fmt: skip


class _Checker:
    def __init__(self, path: Path, catalog: dict[str, tuple[str, ...]]):
        self.path = path
        self.catalog = catalog

    def fail(self, line: int, what: str, name: str | None = None) -> RuleFileError:
        where = f"{self.path}:{line}:" + (f" rule {name!r}:" if name else "")
        return RuleFileError(f"{where} {what}")


def load_rules(path: Path | str | None = None, catalog: dict[str, tuple[str, ...]] | None = None) -> RuleSet:
    from cs_analytics.config import AlertSettings

    path = Path(path or AlertSettings.from_env().rules_file)
    check = _Checker(path, catalog if catalog is not None else relation_columns())
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (safe loader subclass)
    except FileNotFoundError as exc:
        raise RuleFileError(f"{path}: no such rules file (ALERT_RULES_FILE)") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}:" if mark else ""
        raise RuleFileError(f"{path}:{line} not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise check.fail(1, "the file needs a top-level 'rules:' list")
    unknown = sorted(set(doc) - {"rules", "links", "version"})
    if unknown:
        raise check.fail(doc.key_lines[unknown[0]], f"unknown top-level key {unknown[0]!r}")
    links = {str(k): str(v) for k, v in (doc.get("links") or {}).items()}
    rules, seen = [], {}
    for raw in doc["rules"]:
        if not isinstance(raw, _LineDict):
            raise check.fail(doc.key_lines["rules"], "each rule must be a mapping")
        rule = _parse_rule(raw, check, links)
        if rule.name in seen:
            raise check.fail(raw.line, f"duplicate rule name (first at line {seen[rule.name]})", rule.name)
        seen[rule.name] = raw.line
        rules.append(rule)
    return RuleSet(path, tuple(rules), links)


def _parse_rule(raw: _LineDict, check: _Checker, links: dict[str, str]) -> Rule:
    name = raw.get("name")
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise check.fail(raw.line, f"rule without a valid name (lower_snake_case): {name!r}")

    def line(key: str) -> int:
        return raw.key_lines.get(key, raw.line)

    def fail(key: str, what: str) -> RuleFileError:
        return check.fail(line(key), what, name)

    for key in raw:
        if key not in _RULE_KEYS:
            raise fail(key, f"unknown key {key!r}")
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise fail("severity", f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
    schedule = raw.get("schedule", "daily")
    if schedule not in SCHEDULES:
        raise fail("schedule", f"unknown schedule {schedule!r} (one of {', '.join(SCHEDULES)})")
    audience = _audiences(raw.get("audience"), lambda what: fail("audience", what))
    channels = tuple(raw.get("channels") or ())
    for c in channels:
        if c not in NOTIFY_CHANNELS:
            raise fail("channels", f"unknown channel {c!r} (one of {', '.join(NOTIFY_CHANNELS)}; CRM actions "
                                   "are crm_task, customer_email and crm_list keys)")  # fmt: skip
    try:
        cooldown = parse_duration(raw.get("cooldown", "20h"))
    except ValueError as exc:
        raise fail("cooldown", str(exc)) from None
    link = raw.get("link")
    if link is not None and link not in links:
        raise fail("link", f"unknown link {link!r} (defined: {', '.join(sorted(links)) or 'none'})")

    fields: dict[str, Any] = {"link": link}
    columns: dict[str, str] = {}
    available: dict[str, str] = {}
    source = raw.get("source")
    if schedule == "event":
        if source is not None:
            raise fail("source", "an event rule is raised by code and reads no source")
    else:
        if not isinstance(source, str) or not _RELATION.fullmatch(source):
            raise fail("source", f"source must be schema.relation, got {source!r}")
        if source not in check.catalog:
            raise fail("source", f"unknown relation {source!r} (not a documented dbt model nor in schema.py)")
        available.update({c: "src" for c in check.catalog[source]})
        joins = []
        for i, j in enumerate(raw.get("join") or []):
            rel, on = (j or {}).get("relation"), (j or {}).get("on")
            if rel not in check.catalog:
                raise fail("join", f"unknown relation {rel!r} in join")
            # `on: column` (the same name on both sides) or `on: {source_column: joined_column}`
            left, right = next(iter(on.items())) if isinstance(on, dict) and len(on) == 1 else (on, on)
            if left not in available or right not in check.catalog[rel]:
                raise fail("join", f"join on {on!r}: {left!r} must be a column of {source} (or an earlier join) "
                                   f"and {right!r} one of {rel}")  # fmt: skip
            alias = f"j{i + 1}"
            joins.append(Join(rel, left, alias, available[left], right))
            for c in check.catalog[rel]:
                available.setdefault(c, alias)
        fields["joins"] = tuple(joins)

    def column(key: str, value: Any, what: str = "column") -> str:
        if not isinstance(value, str) or value not in available:
            where = ", ".join([source or "-", *(j.relation for j in fields.get("joins", ()))])
            raise fail(key, f"unknown {what} {value!r} (not in {where})")
        columns[value] = available[value]
        return value

    def template(key: str, value: Any, extra: frozenset[str] = frozenset(), autoescape: bool = False) -> Template:
        if not isinstance(value, str) or not value.strip():
            raise fail(key, f"{key} must be a non-empty template string")
        try:
            t = Template(value, autoescape=autoescape)
        except ValueError as exc:
            raise fail(key, str(exc)) from None
        for var in sorted(t.variables - BUILTINS - extra):
            column(key, var, "template variable")
        return t

    if schedule != "event":
        period = raw.get("period")
        if period is not None:
            every = (period or {}).get("every")
            if every not in PERIODS:
                raise fail("period", f"period.every must be one of {', '.join(PERIODS)}, got {every!r}")
            fields["period_column"] = column("period", (period or {}).get("column"))
            fields["period_every"] = every
        window = raw.get("window")
        if window is not None:
            fields["window_column"] = column("window", (window or {}).get("column"))
            try:
                fields["window_lookback"] = parse_duration((window or {}).get("lookback"))
            except ValueError as exc:
                raise fail("window", str(exc)) from None
            upto = (window or {}).get("upto", "reference")
            if upto not in ("reference", "now"):
                raise fail("window", f"window.upto must be reference or now, got {upto!r}")
            fields["window_upto_now"] = upto == "now"
        if raw.get("due") is not None:
            fields["due_column"] = column("due", raw["due"])
        if not (period or window or raw.get("due")):
            raise fail("source", "a rule reads one period (period), a time window (window) or what is due (due)")
        conditions = []
        for text in raw.get("when") or []:
            conditions.append(_condition(str(text), column, lambda what: fail("when", what)))
        fields["when"] = tuple(conditions)
        group = raw.get("group", "single")
        if group not in GROUPS:
            raise fail("group", f"group must be one of {', '.join(GROUPS)}, got {group!r}")
        fields["group"] = group
        for key in ("entity", "event", "value", "count_above"):
            if raw.get(key) is not None:
                fields[key] = column(key, raw[key])
        order = raw.get("order") or []
        fields["order"] = tuple(
            (column("order", str(o).lstrip("-")), str(o).startswith("-"))
            for o in ([order] if isinstance(order, str) else order)
        )
        if group in ("entity", "digest") and not fields.get("entity"):
            raise fail("group", f"group {group} needs an entity column (one alert subject per row)")
        if raw.get("count_above") is not None and group != "total":
            raise fail("count_above", "count_above applies to group: total")
        worse = raw.get("worse", "higher")
        if worse not in ("higher", "lower"):
            raise fail("worse", f"worse must be higher or lower, got {worse!r}")
        fields["worse"] = worse
        if raw.get("item") is not None:
            fields["item"] = template("item", raw["item"])
        elif group in ("digest", "total"):
            raise fail("group", f"group {group} needs an item template (one line per row)")
        fields["figures"] = tuple(
            Figure(
                str((f or {}).get("label")),
                template("figures", (f or {}).get("value")),
                template("figures", f["target"]) if (f or {}).get("target") else None,
            )
            for f in raw.get("figures") or []
        )
        if raw.get("chart"):
            fields["chart"] = _chart(raw["chart"], column, lambda what: fail("chart", what))
        if raw.get("crm_task"):
            fields["crm_task"] = _crm_task(raw["crm_task"], column, template, lambda what: fail("crm_task", what))
        if raw.get("customer_email"):
            fields["customer_email"] = _customer_email(
                raw["customer_email"], column, template, lambda what: fail("customer_email", what)
            )
        if raw.get("crm_list"):
            spec = raw["crm_list"] or {}
            if not spec.get("list"):
                raise fail("crm_list", "crm_list needs the list's name (list:)")
            fields["crm_list"] = CrmListSpec(str(spec["list"]), column("crm_list", spec.get("member")))
    elif any(k in raw for k in ("when", "period", "window", "due", "entity", "crm_task", "customer_email")):
        raise fail("schedule", "an event rule only sets severity, audience, channels and cooldown")

    notifies = bool(channels)
    if notifies and schedule != "event":
        fields["title"] = template("title", raw.get("title"))
        fields["why"] = template("why", raw.get("why"))
    if not (notifies or fields.get("crm_task") or fields.get("customer_email") or fields.get("crm_list")):
        raise fail("channels", "the rule sends nothing: give it channels or a CRM action")
    if notifies and not audience:
        raise fail("audience", "a rule that notifies needs an audience")
    if raw.get("escalate"):
        fields["escalate"] = _escalation(raw["escalate"], lambda what: fail("escalate", what))
        if fields["escalate"].worse_by is not None and not fields.get("value") and fields.get("group") != "total":
            raise fail("escalate", "escalate.worse_by compares the rule's value: give the rule a value column")
    return Rule(
        name=name,
        description=str(raw.get("description") or ""),
        severity=severity,
        audience=audience,
        channels=channels,
        cooldown=cooldown,
        schedule=schedule,
        file=check.path,
        line=raw.line,
        source=source,
        columns=columns,
        **{k: v for k, v in fields.items() if v is not None},
    )


def _audiences(value: Any, fail) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else list(value)
    for n in names:
        if n not in AUDIENCE_SETTINGS:
            raise fail(f"unknown audience {n!r} (one of {', '.join(AUDIENCE_SETTINGS)})")
    return tuple(names)


def _condition(text: str, column, fail) -> Condition:
    null = _NULL_CONDITION.fullmatch(text.strip())
    if null:
        return Condition(column("when", null.group("col")), "is not null" if null.group("not") else "is null")
    m = _CONDITION.fullmatch(text.strip())
    if not m:
        raise fail(
            f"condition {text!r} is not 'flag', 'not flag', 'column is [not] null', 'column <op> column' "
            "or \"column = 'text'\""
        )
    left = column("when", m.group("left"))
    if m.group("op") is None:
        return Condition(left, "is false" if m.group("neg") else "is true")
    if m.group("neg"):
        raise fail(f"condition {text!r}: 'not' only negates a flag")
    op = "!=" if m.group("op") == "<>" else m.group("op")
    right = m.group("right").strip()
    literal = _STRING.fullmatch(right)
    if literal:
        if op not in ("=", "!="):
            raise fail(f"condition {text!r}: text compares with = or != only")
        return Condition(left, op, literal=literal.group(1))
    if re.fullmatch(r"-?\d+(\.\d+)?", right):
        raise fail(
            f"condition {text!r} compares with the number {right}: a threshold lives in the marts (a dbt var "
            "making an is_* flag or a *_threshold column); compare with that column"
        )
    return Condition(left, op, other_column=column("when", right))


def _escalation(spec: Any, fail) -> Escalation:
    spec = spec or {}
    unknown = set(spec) - {"severity", "audience", "worse_by", "repeat_within"}
    if unknown:
        raise fail(f"unknown escalate key {sorted(unknown)[0]!r}")
    severity = spec.get("severity")
    if severity not in SEVERITIES:
        raise fail(f"unknown severity {severity!r} (one of {', '.join(SEVERITIES)})")
    worse_by = spec.get("worse_by")
    if worse_by is not None and not (isinstance(worse_by, int | float) and worse_by > 0):
        raise fail(f"escalate.worse_by must be a positive share (0.25 = 25 % worse), got {worse_by!r}")
    try:
        repeat = parse_duration(spec["repeat_within"]) if spec.get("repeat_within") else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    if worse_by is None and repeat is None:
        raise fail("escalate needs worse_by, repeat_within or both")
    return Escalation(severity, _audiences(spec.get("audience"), fail), worse_by, repeat)


def _chart(spec: Any, column, fail) -> ChartSpec:
    kind = (spec or {}).get("kind")
    if kind not in ("trend", "forecast"):
        raise fail(f"chart kind must be trend or forecast, got {kind!r}")
    col = column("chart", spec["column"]) if spec.get("column") else None
    threshold = column("chart", spec["threshold"]) if spec.get("threshold") else None
    if kind == "trend" and not col:
        raise fail("a trend chart needs the column it draws")
    unknown = set(spec) - {"kind", "column", "threshold", "points", "title"}
    if unknown:
        raise fail(f"unknown chart key {sorted(unknown)[0]!r}")
    return ChartSpec(kind, col, threshold, int(spec.get("points", 28)), spec.get("title"))


def _crm_task(spec: Any, column, template, fail) -> CrmTaskSpec:
    spec = spec or {}
    unknown = set(spec) - {"subject", "body", "owner", "contacts", "tickets", "due_in", "priority", "type", "require"}
    if unknown:
        raise fail(f"unknown crm_task key {sorted(unknown)[0]!r}")
    if not spec.get("owner"):
        raise fail("crm_task needs an owner column: a task nobody is assigned is forgotten")
    priority = spec.get("priority", "MEDIUM")
    if priority not in ("LOW", "MEDIUM", "HIGH"):
        raise fail(f"crm_task priority must be LOW, MEDIUM or HIGH, got {priority!r}")
    task_type = spec.get("type", "TODO")
    if task_type not in ("CALL", "EMAIL", "TODO"):
        raise fail(f"crm_task type must be CALL, EMAIL or TODO, got {task_type!r}")
    try:
        due_in = parse_duration(spec.get("due_in", "1d"))
    except ValueError as exc:
        raise fail(str(exc)) from None
    return CrmTaskSpec(
        subject=template("crm_task", spec.get("subject")),
        body=template("crm_task", spec.get("body")),
        owner=column("crm_task", spec["owner"]),
        contacts=tuple(column("crm_task", c) for c in spec.get("contacts") or ()),
        tickets=tuple(column("crm_task", c) for c in spec.get("tickets") or ()),
        due_in=due_in,
        priority=priority,
        task_type=task_type,
        require=tuple(column("crm_task", c) for c in spec.get("require") or ()),
    )


def _customer_email(spec: Any, column, template, fail) -> CustomerEmailSpec:
    spec = spec or {}
    unknown = set(spec) - {"to", "contact", "opted_out", "subject", "template", "offer", "require"}
    if unknown:
        raise fail(f"unknown customer_email key {sorted(unknown)[0]!r}")
    name = spec.get("template")
    from cs_analytics.alerts.templates import TEMPLATE_DIR

    if not name or not (TEMPLATE_DIR / f"{name}.html").exists() or not (TEMPLATE_DIR / f"{name}.txt").exists():
        raise fail(f"customer_email template {name!r}: alerts/templates/{name}.html and .txt are needed")
    for variables in (file_variables(f"{name}.html"), file_variables(f"{name}.txt")):
        for var in sorted(variables - BUILTINS - CUSTOMER_EMAIL_BUILTINS):
            column("customer_email", var, f"variable of template {name}")
    if not spec.get("offer"):
        raise fail("customer_email needs the offer it makes (offer:)")
    return CustomerEmailSpec(
        to=column("customer_email", spec.get("to")),
        contact=column("customer_email", spec.get("contact")),
        opted_out=column("customer_email", spec["opted_out"]) if spec.get("opted_out") else None,
        subject=template("customer_email", spec.get("subject"), CUSTOMER_EMAIL_BUILTINS),
        template=name,
        offer=str(spec["offer"]),
        require=tuple(column("customer_email", c) for c in spec.get("require") or ()),
    )
