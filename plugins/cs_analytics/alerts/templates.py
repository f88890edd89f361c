"""Message templates (Jinja2): the rules' titles, whys, figures, CRM tasks and customer e-mails.

Strict by design: a variable the data does not have - absent, or null - is an error naming
it (`TemplateDataError`), never an empty space in a message. A template that wants to say
something only when a value exists asks for it explicitly (`{% if technician is defined %}`).
The variables a template uses are known when the rules file is parsed (`Template.variables`),
so one naming an unknown column is refused before any data is read.

Filters, French formatting: `date` (10/03/2026), `day` (mardi 10/03), `month` (mars 2026),
`num` (1 234,5), `int`, `pct` (0.684 -> 68,4 %), `eur` (12 345 €), `hours` (3,2 h), `signed`
(+12 / -3).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

TEMPLATE_DIR = Path(__file__).with_name("templates")
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")  # fmt: skip


class TemplateDataError(ValueError):
    """A template needs a value the data does not have."""


def _number(value: Any, decimals: int = 1) -> str:
    text = f"{float(value):,.{decimals}f}".replace(",", " ").replace(".", ",")
    if decimals and "," in text:
        text = text.rstrip("0").rstrip(",")
    return text


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        from zoneinfo import ZoneInfo

        from cs_analytics.config import LOCAL_TZ

        return value.astimezone(ZoneInfo(LOCAL_TZ)).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _time(value: Any) -> str:
    from zoneinfo import ZoneInfo

    from cs_analytics.config import LOCAL_TZ

    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return ts.astimezone(ZoneInfo(LOCAL_TZ)).strftime("%d/%m %H:%M") if ts.tzinfo else ts.strftime("%d/%m %H:%M")


FILTERS = {
    "date": lambda v: _as_date(v).strftime("%d/%m/%Y"),
    "day": lambda v: f"{_DAYS[_as_date(v).weekday()]} {_as_date(v):%d/%m}",
    "month": lambda v: f"{_MONTHS[_as_date(v).month - 1]} {_as_date(v).year}",
    "time": _time,
    "num": lambda v, d=1: _number(v, d),
    "int": lambda v: _number(round(float(v)), 0),
    "pct": lambda v, d=1: _number(float(v) * 100, d) + " %",
    "eur": lambda v: _number(round(float(v)), 0) + " €",
    "hours": lambda v: _number(v, 1) + " h",
    "signed": lambda v: ("+" if float(v) >= 0 else "") + _number(v, 1),
}


@lru_cache(maxsize=2)
def environment(autoescape: bool = False) -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=False,
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    )
    env.filters.update(FILTERS)
    return env


class Template:
    """A template string with the variables it reads; `render(data, what=...)` is strict."""

    def __init__(self, source: str, autoescape: bool = False):
        self.source = source
        env = environment(autoescape)
        try:
            self.variables = frozenset(meta.find_undeclared_variables(env.parse(source)))
            self._template = env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ValueError(f"template syntax error: {exc.message} in {source!r}") from exc

    def render(self, data: dict[str, Any], what: str = "template") -> str:
        return render(self._template, data, what)


def render(template: jinja2.Template, data: dict[str, Any], what: str) -> str:
    # a null is as missing as an absent key: the template must not print "None" or nothing
    present = {k: v for k, v in data.items() if v is not None and not (isinstance(v, float) and v != v)}
    try:
        return template.render(**present).strip()
    except jinja2.UndefinedError as exc:
        text = str(exc.message or exc)
        found = re.search(r"has no attribute '([^']+)'", text) or re.search(r"'([^']+)' is undefined", text)
        missing = found.group(1) if found else text
        state = "null" if missing in data else "absent"
        raise TemplateDataError(f"{what}: variable {missing!r} is {state} in the data") from exc


def render_file(name: str, data: dict[str, Any], what: str, autoescape: bool) -> str:
    return render(environment(autoescape).get_template(name), data, what)


def file_variables(name: str) -> frozenset[str]:
    env = environment(name.endswith(".html"))
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    return frozenset(meta.find_undeclared_variables(env.parse(source)))


def plain(value: Any) -> Any:
    """A database value as templates and JSON like it (Decimal -> float)."""
    if isinstance(value, Decimal):
        return float(value)
    return value
