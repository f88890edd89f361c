"""What the platform sends, as data: one message model for every flow that talks to people.

A message is rendered once, when it is decided, and stored in the outbox as it will be
delivered (`alerts/outbox.py`); a channel only sends it (`alerts/channels/`). Content types:

- `Email`      subject, HTML body, plain-text alternative, inline images (`cid:` references),
               extra headers (e.g. List-Unsubscribe).
- `SlackPost`  fallback text, Block Kit blocks, PNG files posted in the message's thread.
- `CrmTask`    a HubSpot task: subject, body (the why), due date, owner, priority, associated
               contacts and tickets.
- `CrmListSync` the whole wanted membership of a HubSpot static list: the channel adds who is
               missing and removes who left, so a re-send is harmless.
- `Image`      a PNG (or other picture) an e-mail shows inline or a Slack post carries.

`OutboxMessage` wraps one content for one channel and recipient under a stable `key`; the
`group_key` ties the messages of one alert or report together. Building one for a report:

    chart = Image.png("calls_trend", png_bytes, alt="Appels par jour")
    mail = Email(subject="KPIs du 10/03", html="<h1>...</h1><img src='cid:calls_trend'>",
                 text="KPIs du 10/03 ...", images=(chart,))
    msg = OutboxMessage.create("report:daily:2026-03-10", "report", "claire@...", mail,
                               title="KPIs quotidiens du 10/03/2026")

`Alert` is the business-alert model (the rules engine and the quality gate build them);
`alert_email` and `alert_slack` render one for each channel: title, key figures against their
target, why it fired, details, a chart, links to the dashboard and to the Airflow run.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

SEVERITIES = ("critical", "important", "info")
CHANNELS = ("email", "slack", "crm_task", "crm_list")
_STYLE = {  # emoji, French label, colour
    "critical": ("🔴", "CRITIQUE", "#c0392b"),
    "important": ("🟠", "IMPORTANT", "#d35400"),
    "info": ("🟡", "INFO", "#b7950b"),
}
_CID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def severity_above(severity: str) -> str:
    """One step more severe (critical stays critical): escalation."""
    index = SEVERITIES.index(severity)
    return SEVERITIES[max(index - 1, 0)]


# ----------------------------------------------------------------------------- contents
@dataclass(frozen=True)
class Image:
    cid: str
    filename: str
    content: bytes
    alt: str
    mime_type: str = "image/png"

    def __post_init__(self) -> None:
        if not _CID.fullmatch(self.cid):
            raise ValueError(f"image cid {self.cid!r}: letters, digits, '_', '.', '-' only (it goes in a cid: URL)")

    @classmethod
    def png(cls, cid: str, content: bytes, alt: str) -> Image:
        if not content.startswith(b"\x89PNG"):
            raise ValueError(f"image {cid!r} is not a PNG")
        return cls(cid=cid, filename=f"{cid}.png", content=content, alt=alt)


@dataclass(frozen=True)
class Email:
    subject: str
    html: str
    text: str
    images: tuple[Image, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.subject.strip() or not self.text.strip() or not self.html.strip():
            raise ValueError("an e-mail needs a subject, an HTML body and a plain-text alternative")
        for image in self.images:
            if f"cid:{image.cid}" not in self.html:
                raise ValueError(f"e-mail {self.subject!r}: inline image {image.cid!r} is not referenced in the HTML")

    def payload(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "headers": [list(h) for h in self.headers],
        }


@dataclass(frozen=True)
class SlackPost:
    text: str  # the notification text (and what clients without blocks show)
    blocks: tuple[dict[str, Any], ...] = ()
    files: tuple[Image, ...] = ()  # posted in the message's thread

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a Slack post needs a fallback text")
        if len(self.blocks) > 50:
            raise ValueError(f"Slack accepts at most 50 blocks per message, got {len(self.blocks)}")

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)}


@dataclass(frozen=True)
class CrmTask:
    subject: str
    body: str
    due_at: datetime
    owner_id: str
    priority: str = "MEDIUM"  # LOW | MEDIUM | HIGH
    task_type: str = "TODO"  # CALL | EMAIL | TODO
    contact_ids: tuple[str, ...] = ()
    ticket_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.priority not in ("LOW", "MEDIUM", "HIGH"):
            raise ValueError(f"CRM task priority {self.priority!r} is not LOW, MEDIUM or HIGH")
        if self.task_type not in ("CALL", "EMAIL", "TODO"):
            raise ValueError(f"CRM task type {self.task_type!r} is not CALL, EMAIL or TODO")
        if self.due_at.tzinfo is None:
            raise ValueError("CRM task due date must be timezone-aware")

    def payload(self) -> dict[str, Any]:
        return {**asdict(self), "due_at": self.due_at.isoformat()}


@dataclass(frozen=True)
class CrmListSync:
    list_name: str
    members: tuple[str, ...]  # CRM contact ids that should be in the list, and only them

    def payload(self) -> dict[str, Any]:
        return {"list_name": self.list_name, "members": sorted(set(self.members))}


Content = Email | SlackPost | CrmTask | CrmListSync
_CHANNEL_OF = {Email: "email", SlackPost: "slack", CrmTask: "crm_task", CrmListSync: "crm_list"}


@dataclass(frozen=True)
class OutboxMessage:
    """One content for one channel and recipient, under a key that is stable across re-runs."""

    key: str
    group_key: str
    kind: str  # alert | report | customer_email | crm_task | crm_list | pipeline
    channel: str
    recipient: str
    title: str
    content: Content
    rule: str | None = None
    severity: str | None = None
    audience: str | None = None
    entity: str | None = None
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"message {self.key}: unknown channel {self.channel!r}")
        if _CHANNEL_OF[type(self.content)] != self.channel:
            raise ValueError(f"message {self.key}: a {type(self.content).__name__} cannot go to {self.channel}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise ValueError(f"message {self.key}: severity {self.severity!r} not in {SEVERITIES}")
        if not self.recipient:
            raise ValueError(f"message {self.key}: no recipient")

    @classmethod
    def create(cls, group_key: str, kind: str, recipient: str, content: Content, **kw: Any) -> OutboxMessage:
        """The channel follows from the content; the key defaults to group|channel|recipient."""
        channel = _CHANNEL_OF[type(content)]
        key = kw.pop("key", None) or f"{group_key}|{channel}|{recipient}"
        title = kw.pop("title", None) or _default_title(content)
        return cls(key=key, group_key=group_key, kind=kind, channel=channel, recipient=recipient, title=title,
                   content=content, **kw)  # fmt: skip

    @property
    def images(self) -> tuple[Image, ...]:
        if isinstance(self.content, Email):
            return self.content.images
        if isinstance(self.content, SlackPost):
            return self.content.files
        return ()

    def payload(self) -> dict[str, Any]:
        return self.content.payload()


def _default_title(content: Content) -> str:
    if isinstance(content, Email):
        return content.subject
    if isinstance(content, SlackPost):
        return content.text[:200]
    if isinstance(content, CrmTask):
        return content.subject
    return f"Liste {content.list_name}"


def content_from_payload(channel: str, payload: dict[str, Any], images: Iterable[Image] = ()) -> Content:
    """Rebuild the content stored in the outbox."""
    images = tuple(images)
    if channel == "email":
        headers = tuple((str(k), str(v)) for k, v in payload.get("headers") or [])
        return Email(payload["subject"], payload["html"], payload["text"], images, headers)
    if channel == "slack":
        return SlackPost(payload["text"], tuple(payload.get("blocks") or ()), images)
    if channel == "crm_task":
        return CrmTask(
            subject=payload["subject"],
            body=payload["body"],
            due_at=datetime.fromisoformat(payload["due_at"]),
            owner_id=str(payload["owner_id"]),
            priority=payload.get("priority", "MEDIUM"),
            task_type=payload.get("task_type", "TODO"),
            contact_ids=tuple(payload.get("contact_ids") or ()),
            ticket_ids=tuple(payload.get("ticket_ids") or ()),
        )
    if channel == "crm_list":
        return CrmListSync(payload["list_name"], tuple(payload["members"]))
    raise ValueError(f"unknown channel {channel!r}")


# ----------------------------------------------------------------------------- business alerts
@dataclass(frozen=True)
class Figure:
    """A key figure against its target: 'Appels 82 (seuil 70)'."""

    label: str
    value: str
    target: str | None = None


@dataclass(frozen=True)
class Alert:
    key: str  # stable for one condition on one entity and period: a re-run never sends it twice
    severity: str
    title: str
    summary: str  # why it fired
    audience: str = "service_client"
    facts: tuple[tuple[str, str], ...] = ()  # plain key figures (label, value)
    link: str | None = None  # the dashboard (or Data Docs, or the task's log) page to open
    rule: str = ""
    details: tuple[str, ...] = field(default=())  # one line per customer, ticket, technician...
    figures: tuple[Figure, ...] = ()  # key figures against their target
    run_link: str | None = None  # the Airflow run that raised it
    chart: Image | None = None
    escalated: bool = False
    entity: str | None = None
    link_label: str = "Tableau de bord"

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert {self.key}: severity {self.severity!r} not in {SEVERITIES}")

    def with_(self, **changes: Any) -> Alert:
        return replace(self, **changes)


def email_subject(alert: Alert) -> str:
    emoji, label, _ = _STYLE[alert.severity]
    escalated = " — ESCALADE" if alert.escalated else ""
    return f"{emoji} [{label}{escalated}] {alert.title}"


def _figure_text(f: Figure) -> str:
    return f"{f.value} (cible {f.target})" if f.target else f.value


def email_text(alert: Alert) -> str:
    _, label, _ = _STYLE[alert.severity]
    lines = [f"[{label}] {alert.title}", "", alert.summary, ""]
    lines += [f"- {f.label} : {_figure_text(f)}" for f in alert.figures]
    lines += [f"- {k} : {v}" for k, v in alert.facts]
    if alert.details:
        lines += ["", *(f"  * {d}" for d in alert.details)]
    if alert.link:
        lines += ["", f"{alert.link_label} : {alert.link}"]
    if alert.run_link:
        lines += [f"Exécution Airflow : {alert.run_link}"]
    lines += ["", f"Règle {alert.rule or '-'} · clé {alert.key}"]
    return "\n".join(lines) + "\n"


def email_html(alert: Alert) -> str:
    _, label, colour = _STYLE[alert.severity]
    e = html.escape
    rows = "".join(
        f"<tr><td style='padding:6px 16px 6px 0;color:#555'>{e(f.label)}</td>"
        f"<td style='padding:6px 16px 6px 0;font-size:18px'><b>{e(f.value)}</b></td>"
        f"<td style='padding:6px 0;color:#777'>{'cible ' + e(f.target) if f.target else ''}</td></tr>"
        for f in alert.figures
    ) + "".join(
        f"<tr><td style='padding:4px 16px 4px 0;color:#555'>{e(k)}</td><td colspan='2'><b>{e(v)}</b></td></tr>"
        for k, v in alert.facts
    )
    details = (
        "<ul style='padding-left:20px;margin:8px 0'>"
        + "".join(f"<li style='margin:3px 0'>{e(d)}</li>" for d in alert.details)
        + "</ul>"
        if alert.details
        else ""
    )
    chart = (
        f"<p style='margin:16px 0'><img src='cid:{alert.chart.cid}' alt='{e(alert.chart.alt)}' "
        "style='max-width:640px;width:100%;border:1px solid #eee'></p>"
        if alert.chart
        else ""
    )
    buttons = "".join(
        f"<a href='{e(url)}' style='display:inline-block;margin:0 8px 8px 0;padding:8px 14px;background:#2c3e50;"
        f"color:#fff;text-decoration:none;border-radius:4px'>{e(text)}</a>"
        for text, url in ((alert.link_label, alert.link), ("Exécution Airflow", alert.run_link))
        if url
    )
    escalated = (
        "<p style='margin:0 0 8px;color:#c0392b'><b>Escalade :</b> la situation s'est aggravée depuis la "
        "dernière alerte.</p>"
        if alert.escalated
        else ""
    )
    return (
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'>"
        f"<title>{e(alert.title)}</title></head>"
        "<body style='margin:0;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;color:#222'>"
        "<div style='max-width:680px;margin:0 auto;background:#fff'>"
        f"<div style='background:{colour};color:#fff;padding:10px 24px;font-weight:bold;letter-spacing:1px'>"
        f"{label}</div><div style='padding:20px 24px'>"
        f"<h1 style='font-size:22px;margin:0 0 12px'>{e(alert.title)}</h1>{escalated}"
        f"<p style='font-size:15px;line-height:1.5;margin:0 0 12px'><b>Pourquoi :</b> {e(alert.summary)}</p>"
        f"<table style='border-collapse:collapse;margin:8px 0'>{rows}</table>{details}{chart}"
        f"<div style='margin-top:16px'>{buttons}</div></div>"
        "<div style='padding:12px 24px;border-top:1px solid #eee;color:#888;font-size:12px'>"
        f"Règle {e(alert.rule or '-')} · clé {e(alert.key)} · plateforme analytique du service client</div>"
        "</div></body></html>"
    )


def alert_email(alert: Alert) -> Email:
    return Email(
        subject=email_subject(alert),
        html=email_html(alert),
        text=email_text(alert),
        images=(alert.chart,) if alert.chart else (),
    )


def slack_text(alert: Alert) -> str:
    emoji, label, _ = _STYLE[alert.severity]
    return f"{emoji} *{label}* — {alert.title} : {alert.summary}"


def _mrkdwn(text: str) -> str:
    # Slack mrkdwn: &, < and > must be escaped; nothing else.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(alert: Alert) -> list[dict[str, Any]]:
    emoji, label, _ = _STYLE[alert.severity]
    escalated = " · *ESCALADE*" if alert.escalated else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} {alert.title}"[:150], "emoji": True}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{label}*{escalated}\n*Pourquoi :* {_mrkdwn(alert.summary)}"[:3000]},
        },
    ]
    fields = [f"*{_mrkdwn(f.label)}*\n{_mrkdwn(_figure_text(f))}" for f in alert.figures]
    fields += [f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}" for k, v in alert.facts]
    if fields:
        # a section holds at most 10 fields
        for start in range(0, min(len(fields), 20), 10):
            blocks.append(
                {
                    "type": "section",
                    "fields": [{"type": "mrkdwn", "text": t[:2000]} for t in fields[start : start + 10]],
                }
            )
    if alert.details:
        shown = alert.details[:15]
        more = f"\n… et {len(alert.details) - len(shown)} autre(s)" if len(alert.details) > len(shown) else ""
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": ("\n".join(f"• {_mrkdwn(d)}" for d in shown) + more)[:3000]},
            }
        )
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": text}, "url": url, "action_id": action}
        for text, url, action in (
            (alert.link_label, alert.link, "open_link"),
            ("Exécution Airflow", alert.run_link, "open_airflow_run"),
        )
        if url
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Règle `{alert.rule or '-'}` · clé `{_mrkdwn(alert.key)}`"}],
        }
    )
    return blocks


def alert_slack(alert: Alert) -> SlackPost:
    return SlackPost(
        text=slack_text(alert), blocks=tuple(slack_blocks(alert)), files=(alert.chart,) if alert.chart else ()
    )


def image_data_uri(image: Image) -> str:
    """For previews (rendering an e-mail to PNG): the image inline instead of cid:."""
    return f"data:{image.mime_type};base64," + base64.b64encode(image.content).decode()
