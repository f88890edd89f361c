"""Slack Web API stand-in that keeps every message it accepts.

    python -m simulators.sinks.slack_api --port 8703

Point `slack_sdk.WebClient(token=..., base_url="http://127.0.0.1:8703/api/")` (or an
Airflow `slack` connection with extra `{"base_url": ".../api/"}`) at it. Methods:
auth.test, chat.postMessage, conversations.list, files.getUploadURLExternal, the
upload URL it hands out, files.completeUploadExternal. Messages go to
`SLACK_SIM_STORE/messages.jsonl` (read them with `simulators.sinks.inbox`) and
`GET /_sim/messages`; uploaded files to `SLACK_SIM_STORE/files/<file id>/`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import mimetypes
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from simulators.httpbase import (
    ApiError,
    Request,
    Response,
    RollingWindow,
    Route,
    SimServer,
    run_cli,
    serve_in_thread,
)
from simulators.sinks.inbox import slack_messages, slack_store_dir

__all__ = ["SlackServer", "channel_id", "make_server", "main", "serve_in_thread"]

TEAM_ID, BOT_USER_ID, BOT_ID = "T0SIMTEAM1", "U0SIMBOT01", "B0SIMBOT01"
BASE_CHANNELS = ("general", "random", "service-client-alertes", "data-engineering")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")


def channel_id(name: str) -> str:
    """Stable id of a channel name, the same across restarts."""
    return "C" + hashlib.sha1(name.encode()).hexdigest()[:10].upper()


def _slack_error(error: str, status: int = 200, **headers: str) -> ApiError:
    # Slack answers API errors with HTTP 200 and ok=false; only rate limits use an HTTP status.
    return ApiError(Response(status, {"ok": False, "error": error}, dict(headers)))


def _json_field(fields: dict[str, Any], name: str) -> Any:
    """Blocks, attachments, files: a JSON string in a form body, already decoded in a JSON body."""
    value = fields.get(name)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _slack_error(f"invalid_{name}") from exc
    return value


class SlackServer(SimServer):
    name = "slack"
    # Slack's chat.postMessage allows about one message per second per channel; 0 leaves it off.
    fault_defaults = {"channel_messages_per_second": 0}

    def __init__(self, host: str, port: int, *, store_dir: Path, token: str, **faults: Any):
        super().__init__(host, port, token=token, **faults)
        self.store_dir = store_dir
        (store_dir / "files").mkdir(parents=True, exist_ok=True)
        self._messages_path = store_dir / "messages.jsonl"
        self._lock = threading.Lock()
        self._last_ts = 0.0
        self._uploads: dict[str, dict[str, Any]] = {}  # file id -> {"name", "length", "path"}
        self._channel_windows: dict[str, RollingWindow] = {}
        names = [
            *BASE_CHANNELS,
            *(os.environ.get(k, "").lstrip("#") for k in ("SLACK_ALERT_CHANNEL", "SLACK_DATA_CHANNEL")),
        ]
        # Channels created by earlier posts survive a restart through the message store.
        names += [m["channel_name"] for m in slack_messages(store_dir)]
        self._channels = {channel_id(n): n for n in dict.fromkeys(n for n in names if n)}
        self._created = {cid: int(time.time()) for cid in self._channels}

    def routes(self) -> list[Route]:
        methods = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "conversations.list": self.conversations_list,
            "files.getUploadURLExternal": self.get_upload_url,
            "files.completeUploadExternal": self.complete_upload,
        }
        api = [Route(verb, rf"/api/{re.escape(m)}", f) for m, f in methods.items() for verb in ("GET", "POST")]
        return [
            *api,
            Route("POST", r"/upload/v1/(?P<file_id>F[A-Z0-9]+)", self.upload, auth=False),
            Route("GET", r"/_sim/messages", self.sim_messages),
        ]

    # ---- Slack's auth: token in the Authorization header or in a `token` field
    def authenticate(self, req: Request) -> Response | None:
        token = req.bearer_token() or req.form.get("token")
        if not token:
            return _slack_error("not_authed").response
        if not hmac.compare_digest(str(token), self.token):
            return _slack_error("invalid_auth").response
        return None

    def failure(self, status: int) -> Response:
        return Response(status, {"ok": False, "error": "internal_error" if status >= 500 else "invalid_request"})

    # ---- channels and the message store
    def _resolve(self, channel: Any, *, create: bool) -> tuple[str, str]:
        """(id, name) of `#name`, `name` or an id; unknown ids are channel_not_found."""
        value = str(channel or "").strip()
        with self._lock:
            if value in self._channels:
                return value, self._channels[value]
            if not value or _CHANNEL_ID.fullmatch(value):
                raise _slack_error("channel_not_found")
            name = value.lstrip("#").lower()
            cid = channel_id(name)
            if cid not in self._channels:
                if not create:
                    raise _slack_error("channel_not_found")
                self._channels[cid] = name
                self._created[cid] = int(time.time())
            return cid, name

    def _next_ts(self) -> str:
        with self._lock:
            self._last_ts = max(time.time(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def _check_channel_rate(self, cid: str) -> None:
        limit = int(self.faults["channel_messages_per_second"])
        if limit <= 0:
            return
        now = self.now()
        with self._lock:
            window = self._channel_windows.setdefault(cid, RollingWindow(1.0))
            wait = window.retry_after(limit, now)
            if wait is not None:
                raise _slack_error("ratelimited", 429, **{"Retry-After": str(max(1, math.ceil(wait)))})
            window.record(now)

    def _store(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False) + "\n"
        with self._lock, self._messages_path.open("a", encoding="utf-8") as f:
            f.write(line)

    # ---- methods
    def auth_test(self, req: Request) -> Response:
        return Response(
            200,
            {
                "ok": True,
                "url": "https://service-client-sim.slack.com/",
                "team": "Service client (sim)",
                "user": "csa-bot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            },
        )

    def chat_post_message(self, req: Request) -> Response:
        fields = req.form
        text = fields.get("text") or ""
        blocks, attachments = _json_field(fields, "blocks"), _json_field(fields, "attachments")
        if not (text or blocks or attachments):
            raise _slack_error("no_text")
        cid, name = self._resolve(fields.get("channel"), create=True)
        self._check_channel_rate(cid)
        ts = self._next_ts()
        message = {
            "ts": ts,
            "channel": cid,
            "channel_name": name,
            "text": text,
            "blocks": blocks,
            "attachments": attachments,
            "thread_ts": fields.get("thread_ts"),
            "files": [],
            "method": "chat.postMessage",
        }
        self._store(message)
        echoed = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": text,
            **{k: v for k in ("blocks", "attachments", "thread_ts") if (v := message[k])},
        }
        return Response(200, {"ok": True, "channel": cid, "ts": ts, "message": echoed})

    def conversations_list(self, req: Request) -> Response:
        with self._lock:
            channels = [
                {
                    "id": cid,
                    "name": name,
                    "is_channel": True,
                    "is_private": False,
                    "is_archived": False,
                    "is_member": True,
                    "created": self._created[cid],
                    "num_members": 3,
                }
                for cid, name in sorted(self._channels.items(), key=lambda c: c[1])
            ]
        return Response(200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})

    def get_upload_url(self, req: Request) -> Response:
        fields = req.form
        filename = str(fields.get("filename") or "")
        try:
            length = int(fields.get("length") or 0)
        except ValueError:
            length = 0
        if not filename or length <= 0:
            raise _slack_error("invalid_arguments")
        file_id = "F" + secrets.token_hex(5).upper()
        with self._lock:
            self._uploads[file_id] = {"name": Path(filename).name, "length": length, "path": None}
        return Response(200, {"ok": True, "upload_url": f"http://{req.host}/upload/v1/{file_id}", "file_id": file_id})

    def upload(self, req: Request) -> Response:
        """The pre-signed upload URL: the body is the raw file content, whatever Content-Type says."""
        file_id = req.params["file_id"]
        with self._lock:
            pending = self._uploads.get(file_id)
        if pending is None:
            return Response(404, "Not Found", content_type="text/plain")
        folder = self.store_dir / "files" / file_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / pending["name"]
        path.write_bytes(req.body)
        with self._lock:
            pending.update(path=path, length=len(req.body))
        return Response(200, f"OK - {len(req.body)}", content_type="text/plain")

    def complete_upload(self, req: Request) -> Response:
        fields = req.form
        requested = _json_field(fields, "files")
        if not isinstance(requested, list) or not requested:
            raise _slack_error("invalid_arguments")
        targets = [fields["channel_id"]] if fields.get("channel_id") else []
        targets += [c for c in str(fields.get("channels") or "").split(",") if c.strip()]
        channels = [self._resolve(c, create=False) for c in targets]
        files = []
        for spec in requested:
            file_id = str(spec.get("id", "")) if isinstance(spec, dict) else ""
            with self._lock:
                pending = self._uploads.get(file_id)
            if pending is None or pending["path"] is None:
                raise _slack_error("file_not_found")
            files.append(
                {
                    "id": file_id,
                    "name": pending["name"],
                    "title": spec.get("title") or pending["name"],
                    "mimetype": mimetypes.guess_type(pending["name"])[0] or "application/octet-stream",
                    "size": pending["length"],
                    "created": int(time.time()),
                    "channels": [cid for cid, _ in channels],
                    "path": str(pending["path"].relative_to(self.store_dir)),
                }
            )
        for cid, name in channels:
            self._check_channel_rate(cid)
            self._store(
                {
                    "ts": self._next_ts(),
                    "channel": cid,
                    "channel_name": name,
                    "text": fields.get("initial_comment") or "",
                    "blocks": None,
                    "attachments": None,
                    "thread_ts": fields.get("thread_ts"),
                    "files": files,
                    "method": "files.completeUploadExternal",
                }
            )
        return Response(200, {"ok": True, "files": [{k: v for k, v in f.items() if k != "path"} for f in files]})

    def sim_messages(self, req: Request) -> Response:
        return Response(200, {"ok": True, "messages": slack_messages(self.store_dir, req.arg("channel"))})


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    store_dir: str | Path | None = None,
    token: str | None = None,
    **faults: Any,
) -> SlackServer:
    """A Slack sink, not yet serving: use `serve_in_thread(server)` (yields the base URL; the API is at `<url>/api/`)."""
    token = token or os.environ.get("SLACK_SIM_TOKEN")
    if not token:
        raise ValueError("SLACK_SIM_TOKEN is not set (scripts/run.sh exports it)")
    return SlackServer(host, port, store_dir=Path(store_dir) if store_dir else slack_store_dir(), token=token, **faults)


def main(argv: list[str] | None = None) -> None:
    run_cli(
        make_server,
        description="Slack Web API sink",
        default_port=8703,
        limit_flags={"channel_messages_per_second": int},
        argv=argv,
    )


if __name__ == "__main__":
    main()
