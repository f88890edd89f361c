"""A report's content as the messages people receive: the e-mail (HTML with its charts inline,
plain-text alternative) and the short Slack summary (Block Kit, headline chart in the thread).

The templates (reports/templates/report.html and .txt) are strict, like the alerts' ones: a
variable the content lacks is a `TemplateDataError` naming it, never a blank in an e-mail.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from cs_analytics.alerts.messages import Email, SlackPost
from cs_analytics.alerts.templates import FILTERS, render
from cs_analytics.reports.content import ReportContent, Table, change_text, fmt, target_text

TEMPLATE_DIR = Path(__file__).with_name("templates")
AUDIENCE_LABELS = {
    "service_client": "le service client",
    "field": "le responsable terrain",
    "direction": "la direction",
    "codir": "le comité de direction",
}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html"]),
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def table_html(t: Table) -> Markup:
    e = html.escape
    align = {"l": "", "r": " class='r'", "c": " class='c'"}
    head = "".join(f"<th{align[a]}>{e(h)}</th>" for h, a in zip(t.headers, t.align, strict=True))
    body = ""
    for row, classes in zip(t.rows, t.classes, strict=True):
        cells = ""
        for value, a, cls in zip(row, t.align, classes, strict=True):
            names = " ".join(x for x in ({"r": "r", "c": "c"}.get(a, ""), cls) if x)
            cells += f"<td{' class=' + repr(names) if names else ''}>{e(str(value))}</td>"
        body += f"<tr>{cells}</tr>"
    return Markup(f"<table><tr>{head}</tr>{body}</table>")


def table_text(t: Table) -> str:
    widths = [max(len(str(x)) for x in [h, *(r[i] for r in t.rows)]) for i, h in enumerate(t.headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if a == "r" else str(c).ljust(w)
                         for c, w, a in zip(cells, widths, t.align, strict=True)).rstrip()  # fmt: skip

    return "\n".join([line(t.headers), line(["-" * w for w in widths]), *(line(r) for r in t.rows)])


def context(content: ReportContent, audiences: tuple[str, ...], dashboard: str | None = None) -> dict[str, Any]:
    f = content.freshness
    published = f.published_at
    data: dict[str, Any] = {
        "title": content.spec.title,
        "report_name": content.spec.name,
        "period_label": content.period.label,
        "period_key": content.period.key,
        "audience_label": " et ".join(AUDIENCE_LABELS.get(a, a) for a in audiences),
        "headline": content.headline,
        "comparison_label": content.spec.comparison,
        "previous_label": content.previous.label,
        "last_year_label": content.last_year.label,
        "kpi_table": table_html(content.kpi_table()),
        "kpi_text": table_text(content.kpi_table()),
        "sections": [
            {
                **s.as_dict(),
                "table_html": table_html(s.table) if s.table else None,
                "table_text": table_text(s.table) if s.table else None,
            }
            for s in content.sections
        ],  # fmt: skip
        "published": FILTERS["time"](published) if published else "—",
        "banner": "; ".join(f.problems) + ". Les chiffres ci-dessous peuvent changer." if not f.complete else None,
        "provisional": f.provisional_note,
        "dashboard": dashboard,
    }
    return data


def email(content: ReportContent, audiences: tuple[str, ...], dashboard: str | None = None) -> Email:
    data = context(content, audiences, dashboard)
    what = f"report {content.spec.name} {content.period.key}"
    env = environment()
    subject = f"📊 {content.spec.title} — {content.period.label}"
    if not content.freshness.complete:
        subject = "⚠️ [données incomplètes] " + subject
    return Email(
        subject=subject,
        html=render(env.get_template("report.html"), data, what),
        text=render(env.get_template("report.txt"), data, what) + "\n",
        images=content.images,
    )


def slack(content: ReportContent, audiences: tuple[str, ...], dashboard: str | None = None,
          max_kpis: int = 8) -> SlackPost:  # fmt: skip
    """The short summary: headline, the first KPIs against target and the previous period, the
    banner when the data are incomplete; the first chart in the thread."""
    spec, period = content.spec, content.period
    title = f"📊 {spec.title} — {period.label}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}}
    ]
    if not content.freshness.complete:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": (
            "⚠️ *Données incomplètes* : " + "; ".join(content.freshness.problems))[:3000]}})  # fmt: skip
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": content.headline[:3000]}})
    fields = []
    for line in content.lines[:max_kpis]:
        status = {"ok": " ✅", "ko": " ⚠️", "wait": " ⏳ (provisoire)"}.get(line.status or "", "")
        target = f" (cible {target_text(line)})" if target_text(line) else ""
        fields.append({"type": "mrkdwn", "text": (
            f"*{line.spec.label}*\n{fmt(line.spec.unit, line.value)}{status}{target}\n"
            f"{spec.comparison} : {change_text(line, line.previous)} · an : {change_text(line, line.last_year)}")[:2000]})  # fmt: skip
    for start in range(0, len(fields), 10):
        blocks.append({"type": "section", "fields": fields[start : start + 10]})
    recipients = " et ".join(AUDIENCE_LABELS.get(a, a) for a in audiences)
    context_text = f"Rapport complet par e-mail ({recipients}) · période `{period.key}`"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context_text}]})
    if dashboard:
        blocks.append({"type": "actions", "elements": [{"type": "button", "action_id": "open_dashboard",
                       "text": {"type": "plain_text", "text": "Tableau de bord"}, "url": dashboard}]})  # fmt: skip
    text = f"{title} : {content.headline}"
    if not content.freshness.complete:
        text = "⚠️ Données incomplètes — " + text
    return SlackPost(text=text[:3000], blocks=tuple(blocks), files=content.images[:1])
