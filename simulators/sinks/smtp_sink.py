"""SMTP server that keeps every message it receives (aiosmtpd, loopback only).

    python -m simulators.sinks.smtp_sink --port 8025

Messages go to the Maildir `SMTP_SIM_MAILDIR` and one line each to
`SMTP_SIM_MAILDIR/index.jsonl` (read them with `simulators.sinks.inbox`). No TLS;
AUTH is offered without TLS and any credentials are accepted, so an Airflow `smtp`
connection needs the extras `disable_ssl` and `disable_tls` set to true, login optional.
"""

from __future__ import annotations

import argparse
import email
import json
import mailbox
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from simulators.httpbase import stop_on_signal, wait_for_signal
from simulators.sinks.inbox import smtp_maildir

__all__ = ["MaildirKeeper", "SmtpSink", "make_controller", "main", "serve_in_thread"]

MAX_MESSAGE_BYTES = 50 * 1024 * 1024  # reports with attachments must fit


class MaildirKeeper:
    """aiosmtpd handler: store the message in the Maildir, then index it."""

    def __init__(self, maildir: Path):
        self.maildir = maildir
        self._box = mailbox.Maildir(maildir, create=True)
        self._index = maildir / "index.jsonl"
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=default_policy)
        received = datetime.now(UTC)
        try:
            sent = message["Date"].datetime if message["Date"] else received
        except (AttributeError, TypeError, ValueError):  # an unparsable Date header
            sent = received
        with self._lock:
            key = self._box.add(raw)
            entry = {
                "message_id": str(message["Message-ID"] or f"<{key}@smtp-sink>"),
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "subject": str(message["Subject"] or ""),
                "date": sent.isoformat(),
                "file": f"new/{key}",  # Maildir.add puts new messages in new/ under their key
            }
            with self._index.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        print(
            f"[smtp] {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)} {entry['subject']!r} {len(raw)}B",
            file=sys.stderr,
            flush=True,
        )
        return "250 Message accepted for delivery"


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=True)


class SmtpSink(Controller):
    """aiosmtpd Controller that also works with port 0 (the readiness probe needs the real port)."""

    def __init__(self, maildir: Path, host: str, port: int):
        self.maildir = maildir
        super().__init__(
            MaildirKeeper(maildir),
            hostname=host,
            port=port,
            server_hostname="smtp-sink.local",  # no DNS lookup of the machine's FQDN at start-up
            data_size_limit=MAX_MESSAGE_BYTES,
            authenticator=_accept_any_login,
            auth_require_tls=False,
        )

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def make_controller(host: str = "127.0.0.1", port: int = 0, maildir: str | Path | None = None) -> SmtpSink:
    """An SMTP sink, not yet started: use `serve_in_thread(sink)` or `sink.start()` / `sink.stop()`."""
    return SmtpSink(Path(maildir) if maildir else smtp_maildir(), host, port)


@contextmanager
def serve_in_thread(sink: SmtpSink) -> Iterator[tuple[str, int]]:
    """Start the sink; yields (host, port) and stops it on exit."""
    sink.start()
    try:
        yield sink.hostname, sink.port
    finally:
        sink.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink that keeps every message in a Maildir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args(argv)
    sink = make_controller(args.host, args.port)
    stop = stop_on_signal()
    with serve_in_thread(sink) as (host, port):
        print(f"smtp listening on {host}:{port}, Maildir {sink.maildir}", file=sys.stderr, flush=True)
        wait_for_signal(stop)


if __name__ == "__main__":
    main()
