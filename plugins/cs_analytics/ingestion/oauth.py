"""OAuth 2.0 access tokens for the sources that issue short-lived ones, and an ApiSession that uses them.

- Google service account (GA4): a JWT signed with the account's private key (RS256) is exchanged
  at the key's `token_uri` for a one-hour bearer token (the JWT bearer grant, RFC 7523).
- Microsoft identity platform (Graph): client id and secret are exchanged at
  `{authority}/{tenant}/oauth2/v2.0/token` for a bearer token (client credentials grant).

A token is fetched before the first request, renewed a minute before it expires, and renewed once
more if the API still answers 401 (a token revoked or expired early). A refused credential fails at
once, naming the Airflow connection.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cs_analytics.ingestion.http_client import ApiSession, RetryPolicy, SourceAuthError, SourceRequestError

log = logging.getLogger(__name__)

GOOGLE_ANALYTICS_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
RENEW_BEFORE_S = 60.0


@dataclass
class AccessToken:
    value: str
    expires_at: float  # time.monotonic()


class TokenSource:
    """Fetches access tokens for one Airflow connection; subclasses build the token request."""

    def __init__(self, conn_id: str, token_url: str, timeout_s: float = 30.0, retry: RetryPolicy | None = None):
        self.conn_id = conn_id
        self.token_url = token_url
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.fetched = 0

    def form(self) -> dict[str, str]:
        raise NotImplementedError

    def fetch(self, http: requests.Session) -> AccessToken:
        failures = 0
        while True:
            try:
                resp = http.post(self.token_url, data=self.form(), timeout=self.timeout_s)
            except (requests.Timeout, requests.ConnectionError) as exc:
                failures = self._retry_or_raise(failures, f"{type(exc).__name__} on POST {self.token_url}", exc)
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                failures = self._retry_or_raise(failures, f"{resp.status_code} on POST {self.token_url}")
                continue
            if resp.status_code >= 400:
                raise SourceAuthError(
                    f"{resp.status_code} from the token endpoint {self.token_url}: the credentials of Airflow "
                    f"connection '{self.conn_id}' were refused (check AIRFLOW_CONN_{self.conn_id.upper()}). "
                    f"Response: {resp.text[:300]}"
                )
            body = resp.json()
            self.fetched += 1
            return AccessToken(body["access_token"], time.monotonic() + float(body.get("expires_in", 3600)))

    def _retry_or_raise(self, failures: int, what: str, exc: Exception | None = None) -> int:
        if failures >= self.retry.max_retries:
            raise SourceRequestError(f"{what}: no access token for connection '{self.conn_id}'") from exc
        self.retry.sleep(self.retry.backoff(failures))
        return failures + 1


class GoogleServiceAccount(TokenSource):
    """A service account's JSON key (as downloaded from Google Cloud): `client_email`, `private_key`,
    `private_key_id`, `token_uri`."""

    def __init__(self, conn_id: str, key: dict[str, Any], scope: str = GOOGLE_ANALYTICS_SCOPE, **kwargs: Any):
        for field in ("client_email", "private_key", "token_uri"):
            if not key.get(field):
                raise SourceAuthError(f"the service-account key of connection '{conn_id}' has no '{field}'")
        super().__init__(conn_id, key["token_uri"], **kwargs)
        self.key = key
        self.scope = scope

    @classmethod
    def from_file(cls, conn_id: str, path: str | Path, **kwargs: Any) -> GoogleServiceAccount:
        try:
            key = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise SourceAuthError(
                f"connection '{conn_id}': cannot read the service-account key file {path}: {exc}"
            ) from exc
        return cls(conn_id, key, **kwargs)

    def form(self) -> dict[str, str]:
        import jwt

        now = int(time.time())
        claims = {"iss": self.key["client_email"], "scope": self.scope, "aud": self.token_url, "iat": now,
                  "exp": now + 3600}  # fmt: skip
        headers = {"kid": self.key["private_key_id"]} if self.key.get("private_key_id") else None
        assertion = jwt.encode(claims, self.key["private_key"], algorithm="RS256", headers=headers)
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}


class ClientCredentials(TokenSource):
    """An Entra ID (Azure AD) app registration's client id and secret."""

    def __init__(self, conn_id: str, authority: str, tenant_id: str, client_id: str, client_secret: str, **kwargs):
        super().__init__(conn_id, f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token", **kwargs)
        self.client_id, self.client_secret = client_id, client_secret

    def form(self) -> dict[str, str]:
        return {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret,
                "scope": GRAPH_SCOPE}  # fmt: skip


class OAuthApiSession(ApiSession):
    """An ApiSession whose bearer token comes from a TokenSource and is renewed when it expires."""

    def __init__(self, conn_id: str, base_url: str, tokens: TokenSource, timeout_s: float = 30.0,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic):  # fmt: skip
        super().__init__(conn_id, base_url, None, timeout_s, retry, session)
        self.tokens = tokens
        self.clock = clock
        self._token: AccessToken | None = None

    def _authorize(self, renew: bool = False) -> None:
        if renew or self._token is None or self._token.expires_at - RENEW_BEFORE_S <= self.clock():
            self._token = self.tokens.fetch(self.session)
            self.session.headers["Authorization"] = f"Bearer {self._token.value}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self._authorize()
        try:
            return super().request(method, path, **kwargs)
        except SourceAuthError as exc:
            if "401" not in str(exc).split(" ", 1)[0]:
                raise  # 403: the credential is valid but not allowed; a new token will not help
            log.info("%s: 401 with a token believed valid; renewing it once", self.conn_id)
            self._authorize(renew=True)
            return super().request(method, path, **kwargs)
