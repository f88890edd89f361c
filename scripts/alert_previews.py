#!/usr/bin/env python3
"""Render delivered messages to PNG, as their readers see them: build/alerts/*.png.

    scripts/run.sh python scripts/alert_previews.py [--out build/alerts]

Reads what the loopback sinks received (after `make demo`): the e-mails in the SMTP sink's
Maildir (the real MIME: HTML part, its inline images), the Slack sink's messages (Block Kit,
laid out the way Slack shows them, the chart posted in the thread) and the CRM simulator's
tasks (HubSpot's task card: subject, due date, owner, associations, body). One picture per
kind of message - alert e-mail, Slack alert, customer e-mail, pipeline failure, CRM task - the
most severe of each. HTML goes through headless Chromium (Debian's `chromium`,
scripts/install_browser.sh installs it when missing).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
_RANK = {"CRITIQUE": 0, "IMPORTANT": 1, "INFO": 2}


# ----------------------------------------------------------------------------- HTML of each kind
def email_html(msg: EmailMessage) -> str:
    """The HTML part with its cid: images inlined, under a mail-client header (from, to, subject)."""
    body = msg.get_body(("html",))
    content = (
        body.get_content() if body is not None else f"<pre>{html.escape(msg.get_body(('plain',)).get_content())}</pre>"
    )
    for part in msg.walk():
        cid = (part.get("Content-ID") or "").strip("<>")
        if cid and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_content()).decode()
            content = content.replace(f"cid:{cid}", f"data:{part.get_content_type()};base64,{data}")
    e = html.escape
    header = (
        "<div style='font-family:Helvetica,Arial,sans-serif;font-size:13px;background:#eef1f5;padding:10px 16px;"
        "border-bottom:1px solid #d5dae1;color:#333'>"
        f"<div><b>De :</b> {e(str(msg['From']))}</div><div><b>À :</b> {e(str(msg['To']))}</div>"
        f"<div><b>Objet :</b> {e(str(msg['Subject']))}</div>"
        + (f"<div style='color:#777'><b>List-Unsubscribe :</b> {e(str(msg['List-Unsubscribe']))}</div>"
           if msg["List-Unsubscribe"] else "")
        + "</div>"
    )  # fmt: skip
    if "<body" in content:
        return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + header, content, count=1)
    return f"<html><body style='margin:0'>{header}{content}</body></html>"


def _mrkdwn(text: str) -> str:
    text = (
        html.escape(text, quote=False)
        .replace("&amp;lt;", "&lt;")
        .replace("&amp;gt;", "&gt;")
        .replace("&amp;amp;", "&amp;")
    )
    text = re.sub(r"&lt;(https?://[^|&]+)\|([^&]+)&gt;", r"<a href='\1'>\2</a>", text)
    text = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", text)
    text = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", text)
    return text.replace("\n", "<br>")


def slack_html(post: dict[str, Any], thread_files: list[tuple[str, bytes]], channel: str) -> str:
    """A Slack message laid out as the client shows Block Kit."""
    parts = []
    for block in post.get("blocks") or [{"type": "section", "text": {"type": "mrkdwn", "text": post["text"]}}]:
        kind = block.get("type")
        if kind == "header":
            parts.append(
                f"<div style='font-size:18px;font-weight:900;margin:4px 0 8px'>{html.escape(block['text']['text'])}</div>"
            )
        elif kind == "section":
            if block.get("text"):
                parts.append(f"<div style='margin:6px 0;line-height:1.45'>{_mrkdwn(block['text']['text'])}</div>")
            if block.get("fields"):
                cells = "".join(f"<div style='line-height:1.4'>{_mrkdwn(f['text'])}</div>" for f in block["fields"])
                parts.append(
                    f"<div style='display:grid;grid-template-columns:1fr 1fr;gap:8px 24px;margin:8px 0'>{cells}</div>"
                )
        elif kind == "actions":
            buttons = "".join(
                "<span style='display:inline-block;border:1px solid #bbb;border-radius:4px;padding:4px 12px;"
                f"margin-right:8px;font-weight:700;font-size:13px'>{html.escape(b['text']['text'])}</span>"
                for b in block.get("elements", [])
            )
            parts.append(f"<div style='margin:10px 0'>{buttons}</div>")
        elif kind == "context":
            text = " ".join(_mrkdwn(el.get("text", "")) for el in block.get("elements", []))
            parts.append(f"<div style='color:#616061;font-size:12px;margin-top:6px'>{text}</div>")
    files = "".join(
        "<div style='margin:12px 0 0 52px;padding-left:12px;border-left:3px solid #ddd;color:#616061;font-size:12px'>"
        f"1 réponse · {html.escape(name)}<br><img style='max-width:620px;margin-top:6px;border:1px solid #ddd;"
        f"border-radius:6px' src='data:image/png;base64,{base64.b64encode(data).decode()}'></div>"
        for name, data in thread_files
    )
    return (
        "<html><head><meta charset='utf-8'></head><body style='margin:0;font-family:Lato,Helvetica,Arial,sans-serif;"
        "font-size:15px;color:#1d1c1d;background:#fff'>"
        f"<div style='background:#3f0e40;color:#fff;padding:10px 20px;font-weight:700'># {html.escape(channel)}</div>"
        "<div style='display:flex;padding:14px 20px 4px'>"
        "<div style='width:36px;height:36px;border-radius:6px;background:#1f618d;color:#fff;font-weight:700;"
        "display:flex;align-items:center;justify-content:center;margin-right:12px;flex:none'>CS</div>"
        "<div style='flex:1;max-width:660px'><div><b>csa-bot</b> <span style='background:#e8e8e8;font-size:10px;"
        "padding:1px 4px;border-radius:3px;color:#555'>APP</span></div>"
        + "".join(parts)
        + "</div></div>"
        + files
        + "<div style='height:16px'></div></body></html>"
    )


def _local(instant: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        ts = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    return ts.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y %H:%M")


def crm_task_html(task: dict[str, Any], contacts: list[str], tickets: list[str], owner: str) -> str:
    """A HubSpot task as its record page shows it."""
    p = task["properties"]
    e = html.escape
    colour = {"HIGH": "#d93f3f", "MEDIUM": "#f2a30f", "LOW": "#5fa35f"}.get(p.get("hs_task_priority"), "#999")
    body = e(p.get("hs_task_body") or "").replace("\n", "<br>")
    rows = "".join(
        f"<tr><td style='color:#516f90;padding:4px 16px 4px 0'>{k}</td><td>{v}</td></tr>"
        for k, v in (
            ("Type", e(p.get("hs_task_type", ""))),
            ("Priorité", f"<span style='color:{colour};font-weight:700'>● {e(p.get('hs_task_priority', ''))}</span>"),
            ("Échéance", e(_local(p.get("hs_timestamp", "")))),
            ("Attribuée à", e(owner)),
            ("Statut", e(p.get("hs_task_status", ""))),
            ("Contacts associés", e(", ".join(contacts)) or "-"),
            ("Tickets associés", e(", ".join(tickets)) or "-"),
        )
    )
    return (
        "<html><head><meta charset='utf-8'></head><body style='margin:0;background:#f5f8fa;font-family:"
        "Lexend,Helvetica,Arial,sans-serif;color:#33475b'>"
        "<div style='background:#2d3e50;color:#fff;padding:10px 20px;font-weight:700'>HubSpot · Tâches</div>"
        "<div style='margin:20px;background:#fff;border:1px solid #cbd6e2;border-radius:4px;padding:20px 24px;"
        "max-width:640px'>"
        f"<div style='font-size:12px;color:#516f90'>Tâche #{e(task['id'])}</div>"
        f"<div style='font-size:20px;font-weight:600;margin:6px 0 14px'>☐ {e(p.get('hs_task_subject', ''))}</div>"
        f"<table style='font-size:14px;border-collapse:collapse'>{rows}</table>"
        f"<div style='margin-top:16px;padding-top:12px;border-top:1px solid #eaf0f6;font-size:14px;line-height:1.5'>{body}</div>"
        "</div></body></html>"
    )


# ----------------------------------------------------------------------------- rendering
def screenshot(page: str, png: Path, width: int = 780, height: int = 2400) -> Path:
    """HTML -> PNG with headless Chromium, cropped to the content."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: run scripts/install_browser.sh (or set CHROMIUM_BIN)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "page.html"
        source.write_text(page, encoding="utf-8")
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}", f"--screenshot={png}", source.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    _crop(png)
    return png


def _crop(png: Path) -> None:
    """Cut the blank bottom of the fixed-size screenshot."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(png)
    rgb = img[..., :3]
    background = rgb[-1, -1]
    rows = np.where(np.abs(rgb - background).sum(axis=(1, 2)) > 0.01)[0]
    last = int(rows[-1]) + 12 if len(rows) else img.shape[0]
    mpimg.imsave(png, img[: min(last, img.shape[0])])


def _severity(subject_or_text: str) -> int:
    m = re.search(r"(CRITIQUE|IMPORTANT|INFO)", subject_or_text)
    return _RANK[m.group(1)] if m else 3


def render_from_sinks(out: Path, maildir: Path, slack_store: Path, crm_url: str | None, crm_token: str | None,
                      crm_owners: dict[str, str] | None = None) -> list[Path]:  # fmt: skip
    """One PNG per kind of message the sinks received."""
    from simulators.sinks import inbox

    written: list[Path] = []
    mails = inbox.mails(maildir)
    kinds: dict[str, tuple[tuple[bool, int], dict]] = {}
    for entry in mails:
        msg = inbox.read_mail(entry, maildir)
        key = str(msg.get("X-CS-Analytics-Key") or "")
        kind = ("customer_email" if "customer_email" in key
                else f"report_{key.split(':')[1]}" if key.startswith("report:")
                else "pipeline_email" if key.startswith(("pipeline_failure", "marts_deadline", "quality_gate"))
                else "alert_email")  # fmt: skip
        # the most telling of each kind: one with a chart, then the most severe
        rank = (not any(p.get_content_maintype() == "image" for p in msg.walk()), _severity(entry["subject"]))
        if kind not in kinds or rank < kinds[kind][0]:
            kinds[kind] = (rank, entry)
    for kind, (_, entry) in sorted(kinds.items()):
        height = 9000 if kind.startswith("report_") else 2400  # a report is a long page
        written.append(screenshot(email_html(inbox.read_mail(entry, maildir)), out / f"{kind}.png", height=height))

    messages = inbox.slack_messages(slack_store)
    posts = [m for m in messages if m["method"] == "chat.postMessage" and m.get("blocks")]

    def is_report(m: dict) -> bool:
        return m["text"].startswith(("📊", "⚠️ Données incomplètes"))

    for kind, wanted in (("slack_alert", lambda m: m["channel_name"] != "data-engineering" and not is_report(m)),
                         ("slack_report", is_report),
                         ("slack_pipeline", lambda m: m["channel_name"] == "data-engineering")):  # fmt: skip
        threads = {m.get("thread_ts") for m in messages if m["method"] == "files.completeUploadExternal"}
        candidates = sorted(
            (p for p in posts if wanted(p)),
            key=lambda p: (p["ts"] not in threads, _severity(p["text"]), -len(p["blocks"])),
        )
        if not candidates:
            continue
        post = candidates[0]
        files = [
            (f["name"], (slack_store / f["path"]).read_bytes())
            for m in messages if m["method"] == "files.completeUploadExternal" and m.get("thread_ts") == post["ts"]
            for f in m["files"] if "path" in f
        ]  # fmt: skip
        written.append(screenshot(slack_html(post, files, post["channel_name"]), out / f"{kind}.png"))

    if crm_url and crm_token:
        import requests

        headers = {"Authorization": f"Bearer {crm_token}"}
        page = requests.get(f"{crm_url}/crm/v3/objects/tasks", params={"limit": 100}, headers=headers, timeout=10)
        tasks = page.json().get("results", []) if page.ok else []
        if tasks:
            detailed = [
                requests.get(f"{crm_url}/crm/v3/objects/tasks/{t['id']}", params={"associations": "contacts,tickets"},
                             headers=headers, timeout=10).json()
                for t in tasks
            ]  # fmt: skip
            task = max(detailed, key=lambda t: (t["properties"].get("hs_task_priority") == "HIGH",
                                                 len(t["properties"].get("hs_task_body") or "")))  # fmt: skip
            links = task.get("associations", {})
            names = []
            for c in links.get("contacts", {}).get("results", []):
                contact = requests.get(
                    f"{crm_url}/crm/v3/objects/contacts/{c['id']}", headers=headers, timeout=10
                ).json()
                props = contact.get("properties", {})
                names.append(f"{props.get('firstname') or ''} {props.get('lastname') or ''} (#{c['id']})".strip())
            tickets = [f"#{t['id']}" for t in links.get("tickets", {}).get("results", [])]
            owner_id = task["properties"].get("hubspot_owner_id") or ""
            owner = (crm_owners or {}).get(owner_id, owner_id)
            written.append(screenshot(crm_task_html(task, names, tickets, owner), out / "crm_task.png"))
    return written


def crm_owner_names(crm_url: str, token: str) -> dict[str, str]:
    import requests

    resp = requests.get(f"{crm_url}/crm/v3/owners", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    return {o["id"]: f"{o['firstName']} {o['lastName']}" for o in resp.json().get("results", [])} if resp.ok else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render delivered alerts to PNG (build/alerts/)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "alerts")
    args = parser.parse_args(argv)
    from simulators.sinks.inbox import slack_store_dir, smtp_maildir

    crm = json.loads(os.environ.get("AIRFLOW_CONN_CRM_API") or "{}")
    crm_url = f"{crm.get('schema', 'http')}://{crm['host']}:{crm['port']}" if crm.get("port") else None
    token = crm.get("password")
    owners = crm_owner_names(crm_url, token) if crm_url and token else {}
    if args.out.exists():
        shutil.rmtree(args.out)
    written = render_from_sinks(args.out, smtp_maildir(), slack_store_dir(), crm_url, token, owners)
    for path in written:
        print(f"  {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
