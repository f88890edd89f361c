"""HTTP with the retry rules every API source shares.

- 429: wait what `Retry-After` says (capped), then try again; not counted as a failure
  up to a generous limit, because the server told us exactly when to come back.
- 5xx, timeouts, dropped connections: exponential backoff with full jitter.
- 401/403: fail at once, naming the connection — retrying a bad token only delays the page.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)


class SourceAuthError(RuntimeError):
    pass


class SourceRequestError(RuntimeError):
    pass


@dataclass
class RetryPolicy:
    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_rate_limit_waits: int = 50
    retry_after_cap_s: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        # "Full jitter": spreads retries of many clients instead of synchronising them.
        return self.rng.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))


@dataclass
class RequestStats:
    requests: int = 0
    retries_5xx: int = 0
    retries_timeout: int = 0
    rate_limited: int = 0


class ApiSession:
    """requests.Session bound to one Airflow connection, with bearer auth and the retry rules."""

    def __init__(
        self,
        conn_id: str,
        base_url: str,
        token: str | None,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ):
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["Accept"] = "application/json"
        self.stats = RequestStats()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        failures = 0
        waits = 0
        while True:
            self.stats.requests += 1
            try:
                resp = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except (requests.Timeout, requests.ConnectionError) as exc:
                self.stats.retries_timeout += 1
                failures = self._retry_or_raise(failures, f"{type(exc).__name__} on {method} {url}", exc)
                continue
            if resp.status_code in (401, 403):
                raise SourceAuthError(
                    f"{resp.status_code} {resp.reason} from {method} {url}: the credentials of Airflow connection "
                    f"'{self.conn_id}' were refused (check its password/token, AIRFLOW_CONN_{self.conn_id.upper()}). "
                    f"Response: {resp.text[:300]}"
                )
            if resp.status_code == 429:
                self.stats.rate_limited += 1
                waits += 1
                if waits > self.retry.max_rate_limit_waits:
                    raise SourceRequestError(f"{method} {url}: still rate-limited after {waits - 1} waits")
                delay = self.rate_limit_delay(resp, waits)
                log.info("429 from %s, waiting %.1fs", url, delay)
                self.retry.sleep(delay)
                continue
            if resp.status_code >= 500:
                self.stats.retries_5xx += 1
                failures = self._retry_or_raise(failures, f"{resp.status_code} on {method} {url}: {resp.text[:200]}")
                continue
            if resp.status_code >= 400:
                raise SourceRequestError(f"{resp.status_code} on {method} {url}: {resp.text[:500]}")
            return resp.json()

    def rate_limit_delay(self, resp: requests.Response, waits: int) -> float:
        """Seconds to wait after a 429: what `Retry-After` says (capped). A source whose 429 means
        something else (a quota exhausted for hours) overrides this and raises instead."""
        return min(_retry_after_seconds(resp), self.retry.retry_after_cap_s)

    def _retry_or_raise(self, failures: int, what: str, exc: Exception | None = None) -> int:
        if failures >= self.retry.max_retries:
            raise SourceRequestError(f"{what} (gave up after {failures} retries)") from exc
        delay = self.retry.backoff(failures)
        log.warning("%s; retry %d/%d in %.2fs", what, failures + 1, self.retry.max_retries, delay)
        self.retry.sleep(delay)
        return failures + 1


def _retry_after_seconds(resp: requests.Response) -> float:
    value = resp.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return 1.0  # an HTTP-date or garbage: wait a little, the loop will ask again


def session_from_connection(conn_id: str, settings) -> ApiSession:
    """An ApiSession for an Airflow HTTP connection (token in its password), with the ingest settings."""
    from cs_analytics.connections import http_endpoint

    ep = http_endpoint(conn_id)
    return ApiSession(
        conn_id, ep.base_url, ep.token, settings.http_timeout_s, RetryPolicy(max_retries=settings.http_max_retries)
    )
