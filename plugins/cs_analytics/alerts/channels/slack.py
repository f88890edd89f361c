"""Slack through slack_sdk's WebClient: Block Kit message, then its charts in the thread.

`SlackChannel.from_connection` reads an Airflow `slack` connection (token in the password,
`base_url` in the extra to reach a Slack-compatible server such as the loopback sink). A 429
raises `TransientError` with Slack's Retry-After, so the outbox waits exactly that long; 5xx,
connection errors and auth errors are retried later; content Slack rejects (invalid_blocks,
msg_too_long...) fails for good. The post's `channel:ts` is checkpointed before the chart
upload, so a retry after a failed upload does not post the message twice.
"""

from __future__ import annotations

import logging
from typing import Any

from cs_analytics.alerts.messages import SlackPost
from cs_analytics.alerts.outbox import PermanentError, StoredMessage, TransientError
from cs_analytics.config import SLACK_CONN_ID

log = logging.getLogger(__name__)

# Errors that say the message itself is wrong: sending it again cannot work.
CONTENT_ERRORS = frozenset(
    {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments", "invalid_arguments",
     "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large"}
)  # fmt: skip


class SlackChannel:
    def __init__(self, client: Any):
        self.client = client

    @classmethod
    def from_connection(cls, conn_id: str = SLACK_CONN_ID, timeout_s: int = 30) -> SlackChannel:
        from slack_sdk import WebClient

        from cs_analytics.connections import get_connection

        conn = get_connection(conn_id)
        extra = conn.extra_dejson or {}
        kwargs: dict[str, Any] = {"token": conn.password, "timeout": int(extra.get("timeout", timeout_s))}
        if extra.get("base_url"):
            kwargs["base_url"] = extra["base_url"]
        client = WebClient(**kwargs)
        client.retry_handlers.clear()  # the outbox retries, honouring Retry-After; no hidden waits here
        return cls(client)

    def _call(self, what: str, fn, **kwargs) -> Any:
        from slack_sdk.errors import SlackApiError

        try:
            return fn(**kwargs)
        except SlackApiError as exc:
            resp = exc.response
            error = (resp.data or {}).get("error") if isinstance(resp.data, dict) else str(resp.data)[:200]
            if resp.status_code == 429:
                retry_after = float(resp.headers.get("Retry-After") or resp.headers.get("retry-after") or 1)
                raise TransientError(f"{what}: rate limited (429)", retry_after=retry_after) from exc
            if error in CONTENT_ERRORS:
                raise PermanentError(f"{what}: Slack refused the message: {error}") from exc
            raise TransientError(f"{what}: HTTP {resp.status_code} {error}") from exc
        except OSError as exc:  # URLError, connection refused, timeout
            raise TransientError(f"{what}: Slack unreachable: {exc}") from exc

    def send(self, message: StoredMessage, checkpoint) -> str:
        post = message.content
        assert isinstance(post, SlackPost)
        if message.external_id:  # posted by an earlier attempt; only its files remained
            channel_id, _, ts = message.external_id.partition(":")
        else:
            resp = self._call(
                "chat.postMessage",
                self.client.chat_postMessage,
                channel=message.recipient,
                text=post.text,
                blocks=list(post.blocks) or None,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": "cs_analytics_message", "event_payload": {"key": message.key}},
            )
            channel_id, ts = resp["channel"], resp["ts"]
            checkpoint(f"{channel_id}:{ts}")
        if post.files:
            self._call(
                "files_upload_v2",
                self.client.files_upload_v2,
                channel=channel_id,
                thread_ts=ts,
                file_uploads=[{"content": f.content, "filename": f.filename, "title": f.alt} for f in post.files],
            )
        return f"{channel_id}:{ts}"
