"""Plumbing shared by the simulated HTTP systems (CRM, mobile app, Slack sink).

Standard library only: a `ThreadingHTTPServer` with a small route table, JSON
responses, bearer authentication, rolling-window rate limiters and the test
switches every simulator answers to:

- `GET|POST|DELETE /_sim/faults` — read, change or reset the fault settings
  (`error_rate`, `error_status`, `fail_next`, `latency_ms`, `timeout_next`,
  `hang_seconds` and each server's rate limits);
- `GET|DELETE /_sim/stats` — request counters (requests, per status, 429s, 5xx, hangs).

`/_sim/*` needs no token but only answers loopback clients. Every request is
logged to stderr as one line: server, method, path, status, milliseconds.
"""

from __future__ import annotations

import argparse
import hmac
import json
import math
import random
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qs, urlsplit

BASE_FAULTS: dict[str, Any] = {
    "error_rate": 0.0,  # share of requests answered with error_status
    "error_status": 503,
    "fail_next": 0,  # the next N requests get error_status
    "latency_ms": 0,  # added before every request
    "timeout_next": 0,  # the next N requests get no answer: the server hangs, then closes
    "hang_seconds": 60.0,  # longest hang (past the usual 30 s client timeout); ends early when the client closes
}


# --------------------------------------------------------------------------- requests and responses
@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON; str/bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, ensure_ascii=False).encode()


class ApiError(Exception):
    """Raised by a route to answer with `response` instead of its normal result."""

    def __init__(self, response: Response):
        super().__init__(response.status)
        self.response = response


def json_error(status: int, body: Any) -> ApiError:
    return ApiError(Response(status, body))


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    client_host: str
    params: dict[str, str] = field(default_factory=dict)  # named groups of the matched route

    def arg(self, name: str) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def host(self) -> str:
        return self.headers.get("Host", "127.0.0.1")

    def bearer_token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise json_error(400, {"error": f"invalid JSON body: {exc}"}) from exc

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise json_error(400, {"error": "expected a JSON object body"})
        return body

    @cached_property
    def form(self) -> dict[str, Any]:
        """Query parameters merged with a form-urlencoded or JSON-object body (body wins)."""
        fields: dict[str, Any] = {k: v[0] for k, v in self.query.items()}
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype == "application/json":
            body = self.json()
            if isinstance(body, dict):
                fields.update(body)
        elif self.body:
            form = parse_qs(self.body.decode(errors="replace"), keep_blank_values=True)
            fields.update({k: v[0] for k, v in form.items()})
        return fields


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: str  # regular expression on the path, named groups become Request.params
    func: Handler
    limits: tuple[str, ...] = ("default",)  # rate limiters the request counts against
    auth: bool = True

    def __post_init__(self) -> None:
        self.regex = re.compile(self.pattern)

    @property
    def control(self) -> bool:
        return self.pattern.startswith("/_sim/")


# --------------------------------------------------------------------------- faults, stats, limits
class Faults:
    """Settings changed at run time through /_sim/faults; DELETE restores the start-up values."""

    def __init__(self, defaults: Mapping[str, Any]):
        self._defaults = dict(defaults)
        self._values = dict(defaults)
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> Any:
        with self._lock:
            return self._values[key]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(changes) - set(self._defaults))
        if unknown:
            raise json_error(400, {"error": f"unknown fault settings {unknown}", "known": sorted(self._defaults)})
        parsed = {}
        for key, value in changes.items():
            kind = type(self._defaults[key])
            try:
                parsed[key] = kind(value)
            except (TypeError, ValueError) as exc:
                raise json_error(400, {"error": f"{key} must be a {kind.__name__}"}) from exc
        if "error_status" in parsed and not 400 <= parsed["error_status"] <= 599:
            raise json_error(400, {"error": "error_status must be a 4xx or 5xx code"})
        with self._lock:
            self._values.update(parsed)
            return dict(self._values)

    def reset(self) -> dict[str, Any]:
        with self._lock:
            self._values = dict(self._defaults)
            return dict(self._values)

    def take(self, key: str) -> bool:
        """Consume one unit of a countdown switch (fail_next, timeout_next)."""
        with self._lock:
            if self._values[key] > 0:
                self._values[key] -= 1
                return True
            return False


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._timeouts = 0
            self._by_status: Counter[int] = Counter()

    def request(self) -> None:
        with self._lock:
            self._requests += 1

    def served(self, status: int | None) -> None:
        with self._lock:
            if status is None:
                self._timeouts += 1
            else:
                self._by_status[status] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_status = dict(self._by_status)
            return {
                "requests": self._requests,
                "rate_limited": by_status.get(429, 0),
                "server_errors": sum(n for s, n in by_status.items() if s >= 500),
                "unauthorized": by_status.get(401, 0),
                "timeouts": self._timeouts,
                "by_status": {str(s): n for s, n in sorted(by_status.items())},
            }


class RollingWindow:
    """Timestamps of the requests accepted in the last `window` seconds."""

    def __init__(self, window: float):
        self.window = window
        self._hits: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.window:
            self._hits.popleft()

    def retry_after(self, limit: int, now: float) -> float | None:
        """Seconds until one more request fits, or None if it fits now (limit <= 0: unlimited)."""
        self._prune(now)
        if limit <= 0 or len(self._hits) < limit:
            return None
        return self._hits[len(self._hits) - limit] + self.window - now

    def record(self, now: float) -> None:
        self._hits.append(now)

    def used(self, now: float) -> int:
        self._prune(now)
        return len(self._hits)


@dataclass
class LimitState:
    limit: int
    window: float
    remaining: int


# --------------------------------------------------------------------------- server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs; every response carries Content-Length
    timeout = 120  # idle keep-alive connections are dropped after this
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait for delayed ACKs
    server: SimServer

    def _dispatch(self) -> None:
        self.server.dispatch(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: SimServer.dispatch writes its own line with the duration."""


class SimServer(ThreadingHTTPServer):
    """Base of the simulators; subclasses set `name`, `fault_defaults`, `limiter_settings` and `routes()`."""

    daemon_threads = True
    block_on_close = False  # shutdown must not wait for idle keep-alive connections
    name = "sim"
    fault_defaults: dict[str, Any] = {}
    # limiter name -> (fault setting holding its limit, window in seconds)
    limiter_settings: dict[str, tuple[str, float]] = {}

    def __init__(self, host: str, port: int, *, token: str, **fault_overrides: Any):
        super().__init__((host, port), _Handler)
        self.token = token
        # Start-up overrides (CLI flags, tests) become the values DELETE /_sim/faults restores.
        self.faults = Faults(Faults({**BASE_FAULTS, **self.fault_defaults}).update(fault_overrides))
        self.stats = Stats()
        self.limiters = {name: RollingWindow(window) for name, (_, window) in self.limiter_settings.items()}
        self.clock_skew = 0.0  # added to the monotonic clock; lets tests jump past a rate-limit window
        self.closing = threading.Event()
        self._limit_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._routes = [
            *self.routes(),
            Route("GET", r"/_sim/faults", lambda r: Response(200, self.faults.snapshot())),
            Route("POST", r"/_sim/faults", lambda r: Response(200, self.faults.update(r.json_object()))),
            Route("DELETE", r"/_sim/faults", lambda r: Response(200, self.faults.reset())),
            Route("GET", r"/_sim/stats", lambda r: Response(200, self.stats.snapshot())),
            Route("DELETE", r"/_sim/stats", self._reset_stats),
        ]

    # ---- to override
    def routes(self) -> list[Route]:
        return []

    def authenticate(self, req: Request) -> Response | None:
        """None when the request may proceed, else the response to send."""
        token = req.bearer_token()
        if token is None or not hmac.compare_digest(token, self.token):
            return self.unauthorized(req, missing=token is None)
        return None

    def unauthorized(self, req: Request, *, missing: bool) -> Response:
        return Response(401, {"error": "unauthorized"})

    def rate_limited(self, limiter: str, retry_after: int) -> Response:
        return Response(429, {"error": "rate_limited", "retry_after": retry_after})

    def failure(self, status: int) -> Response:
        return Response(status, {"error": HTTPStatus(status).phrase.lower().replace(" ", "_")})

    def limit_headers(self, states: dict[str, LimitState]) -> dict[str, str]:
        return {}

    # ---- lifecycle
    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def now(self) -> float:
        return time.monotonic() + self.clock_skew

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def shutdown(self) -> None:
        self.closing.set()
        super().shutdown()

    def server_close(self) -> None:
        super().server_close()
        with self._connections_lock:
            open_connections = list(self._connections)
        for conn in open_connections:  # wake handler threads parked on idle keep-alive connections
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    # ---- request handling
    def dispatch(self, h: _Handler) -> None:
        started = time.monotonic()
        try:
            resp = self._respond(h)
        except ApiError as exc:  # malformed request, before any route ran
            resp = exc.response
        # Logged before answering, so the line is out before the client moves on.
        elapsed = (time.monotonic() - started) * 1000
        path = re.sub(r"(token=)[^&]*", r"\1***", h.path)
        sys.stderr.write(f"[{self.name}] {h.command} {path} {resp.status if resp else '-'} {elapsed:.1f}ms\n")
        if resp is None:
            h.close_connection = True  # the simulated timeout: no answer at all
        else:
            _send(h, resp)

    def _respond(self, h: _Handler) -> Response | None:
        req = _read_request(h)
        route, allowed = self._match(req)
        if route is None and allowed:
            return Response(405, {"error": f"method not allowed, use {' or '.join(allowed)}"})
        if route is None:
            return Response(404, {"error": f"no route for {req.path}"})
        if route.control:
            return (
                self._call(route, req) if _is_loopback(req.client_host) else Response(403, {"error": "loopback only"})
            )
        self.stats.request()
        resp = self._serve_api(h, req, route)
        if resp is not None:
            self.stats.served(resp.status)
        return resp

    def _match(self, req: Request) -> tuple[Route | None, list[str]]:
        allowed = []
        for route in self._routes:
            m = route.regex.fullmatch(req.path)
            if m:
                if route.method == req.method:
                    req.params = m.groupdict()
                    return route, []
                allowed.append(route.method)
        return None, allowed

    def _serve_api(self, h: _Handler, req: Request, route: Route) -> Response | None:
        faults = self.faults.snapshot()
        if faults["latency_ms"] > 0:
            self.closing.wait(faults["latency_ms"] / 1000)
        if self.faults.take("timeout_next"):
            self.stats.served(None)  # counted now: the hang may outlast the client's next calls
            self._hang(h.connection, faults["hang_seconds"])
            return None
        if route.auth and (denied := self.authenticate(req)) is not None:
            return denied
        limited, states = self._acquire(route.limits)
        if limited is not None:
            name, retry_after = limited
            resp = self.rate_limited(name, retry_after)
            resp.headers["Retry-After"] = str(retry_after)
        elif self.faults.take("fail_next") or random.random() < faults["error_rate"]:
            resp = self.failure(faults["error_status"])
        else:
            resp = self._call(route, req)
        resp.headers.update(self.limit_headers(states))
        return resp

    def _call(self, route: Route, req: Request) -> Response:
        try:
            return route.func(req)
        except ApiError as exc:
            return exc.response
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return self.failure(500)

    def _acquire(self, names: tuple[str, ...]) -> tuple[tuple[str, int] | None, dict[str, LimitState]]:
        """Count the request against every limiter, or against none if one of them is full.

        Returns (limiter name, Retry-After seconds) when refused, and each limiter's state.
        """
        names = tuple(n for n in names if n in self.limiters)
        now = self.now()
        with self._limit_lock:
            limits = {n: int(self.faults[self.limiter_settings[n][0]]) for n in names}
            refused = None
            for n in names:
                wait = self.limiters[n].retry_after(limits[n], now)
                if wait is not None:
                    refused = (n, max(1, math.ceil(wait)))
                    break
            if refused is None:
                for n in names:
                    self.limiters[n].record(now)
            states = {
                n: LimitState(limits[n], self.limiters[n].window, max(0, limits[n] - self.limiters[n].used(now)))
                for n in names
            }
            return refused, states

    def _hang(self, conn: socket.socket, seconds: float) -> None:
        """Hold the request unanswered until the client closes, `seconds` pass or the server stops."""
        deadline = time.monotonic() + seconds
        while not self.closing.is_set() and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([conn], [], [], min(left, 0.1))
            if not readable:
                continue
            try:
                if not conn.recv(1, socket.MSG_PEEK):
                    return  # the client timed out and closed its end
            except OSError:
                return
            self.closing.wait(0.1)  # more bytes pipelined by the client: keep hanging

    def _reset_stats(self, _: Request) -> Response:
        self.stats.reset()
        return Response(200, self.stats.snapshot())


def _is_loopback(host: str) -> bool:
    try:
        addr = ip_address(host)
    except ValueError:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def _read_request(h: _Handler) -> Request:
    parts = urlsplit(h.path)
    try:
        length = int(h.headers.get("Content-Length") or 0)
    except ValueError as exc:
        raise json_error(400, {"error": "bad Content-Length"}) from exc
    body = h.rfile.read(length) if length > 0 else b""
    return Request(
        method=h.command,
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=h.headers,
        body=body,
        client_host=h.client_address[0],
    )


def _send(h: _Handler, resp: Response) -> None:
    payload = resp.encoded()
    try:
        h.send_response(resp.status)
        h.send_header("Content-Type", f"{resp.content_type}; charset=utf-8")
        h.send_header("Content-Length", str(len(payload)))
        for key, value in resp.headers.items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(payload)
    except OSError:
        h.close_connection = True  # the client went away mid-answer


# --------------------------------------------------------------------------- helpers for the simulators
def parse_instant(value: Any) -> datetime:
    """Epoch milliseconds (int or digit string) or ISO-8601 (naive = UTC) as an aware UTC datetime."""
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    if "T" in text:  # a `+` offset sent unencoded in a query string arrives as a space
        text = text.replace(" ", "+")
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@contextmanager
def serve_in_thread(server: SimServer) -> Iterator[str]:
    """Serve in a daemon thread; yields the base URL and shuts the server down on exit."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name=f"{server.name}-server"
    )
    thread.start()
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def run_cli(
    factory: Callable[..., SimServer],
    *,
    description: str,
    default_port: int,
    limit_flags: Mapping[str, type] | None = None,
    argv: list[str] | None = None,
) -> None:
    """`--host/--port` plus one `--<setting>` flag per rate limit; serves until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    for key, kind in (limit_flags or {}).items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind, default=None)
    args = parser.parse_args(argv)
    overrides = {k: getattr(args, k) for k in limit_flags or {} if getattr(args, k) is not None}
    try:
        server = factory(host=args.host, port=args.port, **overrides)
    except ValueError as exc:
        parser.error(str(exc))
    stop = stop_on_signal()
    with serve_in_thread(server) as url:
        print(f"{server.name} listening on {url}", file=sys.stderr, flush=True)
        wait_for_signal(stop)


def stop_on_signal() -> threading.Event:
    """An event SIGTERM or SIGINT sets. Installed before the banner is printed: a SIGTERM sent
    as soon as the banner appears must stop the server cleanly, not kill it."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until SIGTERM or SIGINT, so the caller can stop cleanly and exit with status 0."""
    stop = stop or stop_on_signal()
    while not stop.wait(0.5):
        pass
