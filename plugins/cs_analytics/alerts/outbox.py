"""The outbox: every message is written to `meta.outbox` first, then delivered from there.

Nothing lost: a message exists in the warehouse before any send is tried, so an SMTP, Slack or
CRM outage only delays it. Nothing repeated: each message has a stable key (alert key +
channel + recipient, report key + ...); writing it again is a no-op, and a delivered message
is never sent again.

API (used by the alert rules, the quality gate, the pipeline-failure notifier and the reports):

    enqueue(conn, messages, dag_id=None, run_id=None) -> EnqueueResult
        Inside the caller's transaction (the one that decided to send: the rules engine writes
        its cooldown state in the same one). Insert-if-absent on `message_key`.

    deliver_pending(warehouse, channels, group_keys=None, settings=None) -> DeliveryReport
        Claims the messages that are due (pending, or 'sending' whose sender's lease ran out),
        sends each through its channel and records the outcome and the attempt. A transient
        failure (server down, 5xx, 429) puts the message back to pending for later (Slack's and
        HubSpot's Retry-After are honoured); a permanent one, or the last allowed attempt,
        makes it 'failed' (kept, visible in the delivery log, `requeue` puts it back); a
        customer e-mail whose contact has opted out becomes 'suppressed'. Messages coming due
        within `settings.wait_budget_s` (a 1 s Retry-After) are waited for before returning.
        `group_keys` limits the delivery to some alerts or reports.

    send_now(warehouse, messages, channels, ...) = enqueue in its own transaction + deliver
        those groups: for callers with nothing else to commit (the quality gate, notifiers).

    requeue(warehouse, status="failed", group_key=None) -> int

Channels implement `send(message: StoredMessage, checkpoint) -> str | None` (the external id:
Slack ts, Message-ID, HubSpot task id) and raise `TransientError`, `PermanentError` or
`Suppressed`. `checkpoint(external_id)` persists progress mid-send (a Slack post done, its
chart upload still to do), so a retry does not post twice. A message claimed again after its
sender died (`StoredMessage.uncertain`) lets the channel look for what the lost attempt did.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cs_analytics.alerts.messages import Content, Image, OutboxMessage, content_from_payload
from cs_analytics.config import OutboxSettings
from cs_analytics.schema import ensure_schema

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    pass


class TransientError(DeliveryError):
    """Try again later (server down, 5xx, rate limit). `retry_after` in seconds when the server said."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Sending this message again cannot work (rejected content, unknown owner)."""


class Suppressed(DeliveryError):
    """Deliberately not sent (the customer opted out of e-mail); not an error."""


@dataclass(frozen=True)
class StoredMessage:
    message_id: int
    key: str
    group_key: str
    kind: str
    channel: str
    recipient: str
    title: str
    content: Content
    attempt: int
    external_id: str | None  # progress an earlier attempt saved
    uncertain: bool  # an earlier attempt's sender died mid-send: it may have sent
    entity: str | None
    rule: str | None
    severity: str | None


class Channel(Protocol):
    def send(self, message: StoredMessage, checkpoint: Callable[[str], None]) -> str | None: ...


@dataclass
class EnqueueResult:
    new: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


@dataclass
class DeliveryReport:
    sent: Counter = field(default_factory=Counter)  # (channel, kind, severity) -> count
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sent": [
                {"channel": c, "kind": k, "severity": s, "count": n} for (c, k, s), n in sorted(self.sent.items())
            ],
            "retrying": self.retrying,
            "failed": self.failed,
            "suppressed": self.suppressed,
        }

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())


_INSERT = """
insert into meta.outbox (message_key, group_key, kind, channel, recipient, rule, severity, audience, entity,
    title, payload, max_attempts, dag_id, run_id)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
on conflict (message_key) do nothing
returning message_id
"""


def enqueue(conn, messages: Iterable[OutboxMessage], dag_id: str | None = None, run_id: str | None = None):
    """Write messages not written yet (inside the caller's transaction); returns which were new."""
    result = EnqueueResult()
    for m in messages:
        row = conn.execute(
            _INSERT,
            (m.key, m.group_key, m.kind, m.channel, m.recipient, m.rule, m.severity, m.audience, m.entity,
             m.title, json.dumps(m.payload(), ensure_ascii=False), m.max_attempts, dag_id, run_id),
        ).fetchone()  # fmt: skip
        if row is None:
            result.existing.append(m.key)
            continue
        result.new.append(m.key)
        for image in m.images:
            conn.execute(
                "insert into meta.outbox_images (message_id, cid, filename, mime_type, alt, content) "
                "values (%s, %s, %s, %s, %s, %s)",
                (row[0], image.cid, image.filename, image.mime_type, image.alt, image.content),
            )
    return result


_CLAIM = """
with due as (
    select message_id, status as previous_status from meta.outbox
    where status in ('pending', 'sending') and next_attempt_at <= now()
      and (status = 'pending' or lease_until < now())
      and (%(groups)s::text[] is null or group_key = any(%(groups)s::text[]))
    order by next_attempt_at, message_id
    limit %(limit)s
    for update skip locked
)
update meta.outbox o
set status = 'sending', attempts = o.attempts + 1, lease_until = now() + make_interval(secs => %(lease)s),
    first_attempt_at = coalesce(o.first_attempt_at, now())
from due
where o.message_id = due.message_id
returning o.message_id, o.message_key, o.group_key, o.kind, o.channel, o.recipient, o.title, o.payload,
    o.attempts, o.max_attempts, o.external_id, o.entity, o.rule, o.severity, o.lease_until,
    due.previous_status,  -- 'sending': the sender of the previous attempt died mid-send
    clock_timestamp() as started_at
"""


def _claim(warehouse, groups: Sequence[str] | None, limit: int, lease_s: float) -> list[tuple[StoredMessage, int, Any]]:
    with warehouse.transaction() as conn:
        rows = conn.execute(_CLAIM, {"groups": list(groups) if groups else None, "limit": limit,
                                     "lease": lease_s}).fetchall()  # fmt: skip
        claimed = []
        for (mid, key, group, kind, channel, recipient, title, payload, attempts, max_attempts, external_id,
             entity, rule, severity, _lease, previous, started) in rows:  # fmt: skip
            images = [
                Image(cid=c, filename=f, mime_type=mt, alt=a, content=bytes(b))
                for c, f, mt, a, b in conn.execute(
                    "select cid, filename, mime_type, alt, content from meta.outbox_images where message_id = %s "
                    "order by cid",
                    (mid,),
                )
            ]
            message = StoredMessage(
                message_id=mid,
                key=key,
                group_key=group,
                kind=kind,
                channel=channel,
                recipient=recipient,
                title=title,
                content=content_from_payload(channel, payload, images),
                attempt=attempts,
                external_id=external_id,
                uncertain=previous == "sending",
                entity=entity,
                rule=rule,
                severity=severity,
            )
            claimed.append((message, max_attempts, started))
    return claimed


def _record(conn, m: StoredMessage, started, outcome: str, error: str | None) -> None:
    conn.execute(
        "insert into meta.outbox_attempts (message_id, attempt, started_at, finished_at, outcome, error) "
        "values (%s, %s, %s, clock_timestamp(), %s, %s) on conflict (message_id, attempt) do update set "
        "finished_at = excluded.finished_at, outcome = excluded.outcome, error = excluded.error",
        (m.message_id, m.attempt, started, outcome, error),
    )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")[:2000]


def deliver_pending(
    warehouse,
    channels: Mapping[str, Channel],
    group_keys: Sequence[str] | None = None,
    settings: OutboxSettings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    settings = settings or OutboxSettings.from_env()
    ensure_schema(warehouse)
    report = DeliveryReport()
    while True:
        claimed = _claim(warehouse, group_keys, settings.batch_size, settings.lease_s)
        for message, max_attempts, started in claimed:
            _deliver_one(warehouse, channels, message, max_attempts, started, settings, report)
        if claimed:
            continue
        wait = _next_due_within(warehouse, group_keys, settings.wait_budget_s)
        if wait is None:
            return report
        log.info("outbox: waiting %.1fs for messages coming due (Retry-After, backoff)", wait)
        sleep(wait)


def _deliver_one(warehouse, channels, message: StoredMessage, max_attempts: int, started, settings, report) -> None:
    channel = channels.get(message.channel)

    def checkpoint(external_id: str) -> None:
        warehouse.execute(
            "update meta.outbox set external_id = %s where message_id = %s", (external_id, message.message_id)
        )

    label = f"{message.key} (attempt {message.attempt}/{max_attempts})"
    try:
        if channel is None:
            raise TransientError(f"no {message.channel!r} channel configured in this run")
        external_id = channel.send(message, checkpoint)
    except Suppressed as exc:
        with warehouse.transaction() as conn:
            conn.execute(
                "update meta.outbox set status = 'suppressed', last_error = %s, lease_until = null "
                "where message_id = %s",
                (str(exc), message.message_id),
            )
            _record(conn, message, started, "suppressed", str(exc))
        report.suppressed.append(message.key)
        log.info("outbox: %s suppressed: %s", label, exc)
        return
    except Exception as exc:  # one failing message must not stop the others
        error = _error_text(exc)
        permanent = isinstance(exc, PermanentError) or message.attempt >= max_attempts
        if permanent:
            status, delay = "failed", 0.0
        elif isinstance(exc, TransientError) and exc.retry_after is not None:
            status, delay = "pending", max(float(exc.retry_after), 0.0)
        else:
            status = "pending"
            delay = min(settings.retry_cap_s, settings.retry_base_s * 2 ** (message.attempt - 1))
        with warehouse.transaction() as conn:
            conn.execute(
                "update meta.outbox set status = %s, last_error = %s, lease_until = null, "
                "next_attempt_at = now() + make_interval(secs => %s) where message_id = %s",
                (status, error, delay, message.message_id),
            )
            _record(conn, message, started, "failed" if permanent else "retry", error)
        if permanent:
            report.failed.append(f"{message.key}: {error}")
            log.error("outbox: %s failed for good: %s", label, error)
        else:
            report.retrying.append(f"{message.key}: {error}")
            log.warning("outbox: %s will be retried in %.1fs: %s", label, delay, error)
        return
    with warehouse.transaction() as conn:
        conn.execute(
            "update meta.outbox set status = 'sent', sent_at = now(), last_error = null, lease_until = null, "
            "external_id = coalesce(%s, external_id) where message_id = %s",
            (external_id, message.message_id),
        )
        _record(conn, message, started, "sent", None)
    report.sent[(message.channel, message.kind, message.severity or "-")] += 1
    log.info("outbox: %s sent to %s:%s", label, message.channel, message.recipient)


def _next_due_within(warehouse, group_keys: Sequence[str] | None, budget_s: float) -> float | None:
    """Seconds until the next pending message comes due, if that is within the budget."""
    if budget_s <= 0:
        return None
    row = warehouse.query(
        "select extract(epoch from min(next_attempt_at) - now()) from meta.outbox "
        "where status = 'pending' and (%(groups)s::text[] is null or group_key = any(%(groups)s::text[]))",
        {"groups": list(group_keys) if group_keys else None},
    )[0][0]
    if row is None:
        return None
    wait = max(float(row), 0.0)
    return wait + 0.05 if wait <= budget_s else None


def send_now(
    warehouse,
    messages: Sequence[OutboxMessage],
    channels: Mapping[str, Channel],
    dag_id: str | None = None,
    run_id: str | None = None,
    settings: OutboxSettings | None = None,
) -> DeliveryReport:
    ensure_schema(warehouse)
    with warehouse.transaction() as conn:
        enqueue(conn, messages, dag_id=dag_id, run_id=run_id)
    groups = sorted({m.group_key for m in messages})
    return deliver_pending(warehouse, channels, group_keys=groups, settings=settings)


def requeue(warehouse, status: str = "failed", group_key: str | None = None) -> int:
    """Put failed (or suppressed) messages back to pending, attempts reset: after fixing the cause."""
    with warehouse.transaction() as conn:
        cur = conn.execute(
            "update meta.outbox set status = 'pending', attempts = 0, next_attempt_at = now(), last_error = null "
            "where status = %s and (%s::text is null or group_key = %s)",
            (status, group_key, group_key),
        )
        return cur.rowcount


def undelivered(warehouse, group_keys: Sequence[str] | None = None) -> list[tuple[str, str, str | None]]:
    """(key, status, last error) of the messages not delivered (pending, sending or failed)."""
    return warehouse.query(
        "select message_key, status, last_error from meta.outbox where status in ('pending', 'sending', 'failed') "
        "and (%(groups)s::text[] is null or group_key = any(%(groups)s::text[])) order by message_id",
        {"groups": list(group_keys) if group_keys else None},
    )
