"""One alert model, rendered for email and for Slack.

Severities follow the specification (3.2): critical (e.g. a VIP customer unhappy),
important (e.g. 5+ tickets waiting over 24 h), info (e.g. an unusual call peak).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

SEVERITIES = ("critical", "important", "info")
_STYLE = {
    "critical": ("🔴", "CRITIQUE", "#c0392b"),
    "important": ("🟠", "IMPORTANT", "#e67e22"),
    "info": ("🟡", "INFO", "#f1c40f"),
}


@dataclass(frozen=True)
class Alert:
    key: str  # stable for one condition on one day: a re-run never sends it twice
    severity: str
    title: str
    summary: str
    audience: str = "operations"  # operations | data_engineering | management
    facts: tuple[tuple[str, str], ...] = ()
    link: str | None = None
    rule: str = ""
    details: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert {self.key}: severity {self.severity!r} not in {SEVERITIES}")


def email_subject(alert: Alert) -> str:
    emoji, label, _ = _STYLE[alert.severity]
    return f"{emoji} [{label}] {alert.title}"


def email_html(alert: Alert) -> str:
    _, label, colour = _STYLE[alert.severity]
    facts = "".join(
        f"<tr><td style='padding:2px 12px 2px 0;color:#555'>{html.escape(k)}</td><td><b>{html.escape(v)}</b></td></tr>"
        for k, v in alert.facts
    )
    details = ("<ul>" + "".join(f"<li>{html.escape(d)}</li>" for d in alert.details) + "</ul>") if alert.details else ""
    link = f"<p><a href='{html.escape(alert.link)}'>Voir le détail</a></p>" if alert.link else ""
    return (
        f"<div style='font-family:sans-serif'><p style='color:{colour};font-weight:bold'>{label}</p>"
        f"<h2 style='margin:0'>{html.escape(alert.title)}</h2><p>{html.escape(alert.summary)}</p>"
        f"<table>{facts}</table>{details}{link}<p style='color:#999;font-size:small'>"
        f"Règle {html.escape(alert.rule)} · clé {html.escape(alert.key)}</p></div>"
    )


def slack_text(alert: Alert) -> str:
    emoji, label, _ = _STYLE[alert.severity]
    return f"{emoji} *{label}* — {alert.title}: {alert.summary}"


def slack_blocks(alert: Alert) -> list[dict]:
    emoji, label, _ = _STYLE[alert.severity]
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} {alert.title}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{label}* · {alert.summary}"}},
    ]
    if alert.facts:
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in alert.facts[:10]]}
        )
    if alert.details:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"• {d}" for d in alert.details[:15])}}
        )
    if alert.link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{alert.link}|Voir le détail>"}]})
    return blocks
