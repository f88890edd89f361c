"""E-mail through SMTP: HTML with a plain-text alternative and inline images.

The message is `multipart/alternative` (text/plain, then `multipart/related` holding the HTML
and the PNGs it shows through `cid:` URLs), with a Message-ID derived from the outbox key, so
the same message always carries the same id. The server is an Airflow `smtp` connection
(host, port, login, password; extras `disable_ssl`, `disable_tls`, `from_email`, `timeout`),
read by `SmtpServer.from_connection`; the sender is `ALERT_EMAIL_FROM` or the connection's
`from_email`.

Customer e-mails (`kind == "customer_email"`, `entity` = the CRM contact id) are checked
against the contact's e-mail opt-out at send time, not only when they were decided: an opt-out
made while the message waited in the outbox is respected (the message becomes `suppressed`).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from cs_analytics.alerts.messages import Email
from cs_analytics.alerts.outbox import PermanentError, StoredMessage, Suppressed, TransientError
from cs_analytics.config import SMTP_CONN_ID

SENDER_NAME = "Service client — alertes"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    login: str | None = None
    password: str | None = None
    use_ssl: bool = False
    starttls: bool = False
    timeout_s: float = 30.0
    from_email: str | None = None

    @classmethod
    def from_connection(cls, conn_id: str = SMTP_CONN_ID) -> SmtpServer:
        from cs_analytics.connections import get_connection

        conn = get_connection(conn_id)
        extra = conn.extra_dejson or {}

        def flag(name: str) -> bool:
            return str(extra.get(name, False)).lower() in ("1", "true", "yes")

        return cls(
            host=conn.host or "localhost",
            port=int(conn.port or 25),
            login=conn.login or None,
            password=conn.password or None,
            use_ssl=not flag("disable_ssl"),
            starttls=not flag("disable_tls") and flag("disable_ssl"),
            timeout_s=float(extra.get("timeout", 30)),
            from_email=extra.get("from_email"),
        )


def message_id(key: str, sender: str) -> str:
    """Stable per outbox key: a re-sent copy is recognisable as the same message."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "cs-analytics.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def build_mime(email: Email, sender: str, to: str, key: str, sent_at: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = email.subject
    msg["From"] = formataddr((SENDER_NAME, sender))
    msg["To"] = to
    msg["Date"] = format_datetime(sent_at or datetime.now(UTC))
    msg["Message-ID"] = message_id(key, sender)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-CS-Analytics-Key"] = key
    for name, value in email.headers:
        msg[name] = value
    msg.set_content(email.text)
    msg.add_alternative(email.html, subtype="html")
    if email.images:
        html_part = msg.get_payload()[1]
        for image in email.images:
            maintype, _, subtype = image.mime_type.partition("/")
            html_part.add_related(image.content, maintype, subtype, cid=f"<{image.cid}>", filename=image.filename)
    return msg


class EmailChannel:
    def __init__(
        self,
        server: SmtpServer,
        sender: str | None = None,
        opted_out: Callable[[str], bool] | None = None,
    ):
        self.server = server
        self.sender = sender or server.from_email
        if not self.sender:
            raise ValueError("no e-mail sender: set ALERT_EMAIL_FROM or the SMTP connection's extra 'from_email'")
        self.opted_out = opted_out

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        if s.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            if s.starttls:
                client.starttls(context=ssl.create_default_context())
        if s.login and s.password:
            client.login(s.login, s.password)
        return client

    def send(self, message: StoredMessage, checkpoint) -> str:
        assert isinstance(message.content, Email)
        if message.kind == "customer_email":
            if not message.entity:
                raise PermanentError("a customer e-mail needs the CRM contact id (entity) to check its opt-out")
            if self.opted_out is None:
                raise TransientError("no opt-out lookup available: a customer e-mail waits until there is one")
            if self.opted_out(message.entity):
                raise Suppressed(f"contact {message.entity} has opted out of e-mail (hs_email_optout)")
        mime = build_mime(message.content, self.sender, message.recipient, message.key)
        try:
            with self._connect() as client:
                refused = client.send_message(mime, from_addr=self.sender, to_addrs=[message.recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(500 <= c < 600 for c in codes):
                raise PermanentError(f"recipient refused: {exc.recipients}") from exc
            raise TransientError(f"recipient deferred: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (530, 535):  # auth problems can be fixed
                raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, dropped: the server is away
            raise TransientError(f"SMTP server {self.server.host}:{self.server.port} unreachable: {exc}") from exc
        if refused:
            raise PermanentError(f"recipient refused: {refused}")
        return str(mime["Message-ID"])
