"""Readers of what the sinks kept: Slack messages and received mails (tests, run summaries)."""

from __future__ import annotations

import email
import json
import os
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, cast

_LOCAL = Path(__file__).resolve().parents[2] / ".local" / "sinks"


def slack_store_dir() -> Path:
    return Path(os.environ.get("SLACK_SIM_STORE") or _LOCAL / "slack")


def smtp_maildir() -> Path:
    return Path(os.environ.get("SMTP_SIM_MAILDIR") or _LOCAL / "mail")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def slack_messages(store_dir: str | Path | None = None, channel: str | None = None) -> list[dict[str, Any]]:
    """Messages the Slack sink accepted, oldest first; `channel` matches an id, a name or a #name.

    Each is {"ts", "channel", "channel_name", "text", "blocks", "attachments", "thread_ts", "files", "method"}.
    """
    messages = _read_jsonl(Path(store_dir or slack_store_dir()) / "messages.jsonl")
    if channel is None:
        return messages
    wanted = channel.lstrip("#")
    return [m for m in messages if wanted in (m["channel"], m["channel_name"])]


def mails(maildir: str | Path | None = None) -> list[dict[str, Any]]:
    """Index of received mails, oldest first: {"message_id", "from", "to", "subject", "date", "file"}.

    `to` lists the envelope recipients (Bcc included); `file` is relative to the Maildir.
    """
    return _read_jsonl(Path(maildir or smtp_maildir()) / "index.jsonl")


def read_mail(entry: Mapping[str, Any], maildir: str | Path | None = None) -> EmailMessage:
    """The full message of an index entry, parsed with the modern email API (get_body, iter_attachments)."""
    raw = (Path(maildir or smtp_maildir()) / entry["file"]).read_bytes()
    return cast(EmailMessage, email.message_from_bytes(raw, policy=default_policy))
