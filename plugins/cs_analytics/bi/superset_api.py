"""The few Superset REST endpoints provisioning uses (Superset 6.x, /api/v1).

Login gives a JWT; writes also need the CSRF token of the same session (cookie kept by the
requests.Session) and a Referer. Every call has a timeout, so an unreachable or hung
Superset fails with a message instead of waiting forever.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests

TIMEOUT = (5, 120)  # connect, read (an import of the whole bundle takes a few seconds)


class SupersetError(RuntimeError):
    pass


class SupersetClient:
    def __init__(self, base_url: str, session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Referer"] = self.base_url

    # ------------------------------------------------------------------ session
    def wait_until_up(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | str = "no answer"
        while time.monotonic() < deadline:
            try:
                resp = self.session.get(f"{self.base_url}/health", timeout=5)
                if resp.status_code == 200:
                    return
                last = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                last = exc
            time.sleep(1)
        raise SupersetError(
            f"Superset is not reachable at {self.base_url} ({last}); start it with `make bi` "
            f"(or check BI_PORT / BI_URL and .local/log/superset.log)"
        )

    def login(self, username: str, password: str) -> None:
        resp = self.session.post(
            f"{self.base_url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": False},
            timeout=TIMEOUT,
        )
        if resp.status_code != 200:
            raise SupersetError(
                f"login as {username!r} refused by {self.base_url}: HTTP {resp.status_code} {resp.text[:200]}"
            )
        self.session.headers["Authorization"] = f"Bearer {resp.json()['access_token']}"
        csrf = self.request("GET", "/api/v1/security/csrf_token/")
        self.session.headers["X-CSRFToken"] = csrf["result"]

    def request(self, method: str, path: str, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        try:
            resp = self.session.request(method, f"{self.base_url}{path}", timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise SupersetError(f"{method} {path}: {exc}") from exc
        if resp.status_code not in ok:
            detail = resp.text[:1000]
            if resp.headers.get("Content-Type", "").startswith("text/html"):
                detail = "an error page (Superset's log, e.g. .local/log/superset.log, has the traceback)"
            raise SupersetError(f"{method} {path}: HTTP {resp.status_code}: {detail}")
        return resp.json() if resp.content else None

    def list_all(
        self, path: str, filters: list[dict[str, Any]] | None = None, columns: list[str] | None = None
    ) -> list[dict]:
        """Every row of a FAB list endpoint (paged), with rison-free JSON `q`."""
        rows: list[dict] = []
        page = 0
        while True:
            q: dict[str, Any] = {"page": page, "page_size": 100}
            if filters:
                q["filters"] = filters
            if columns:
                q["columns"] = columns
            body = self.request("GET", path, params={"q": _rison(q)})
            rows.extend(body["result"])
            if len(rows) >= body.get("count", 0) or not body["result"]:
                return rows
            page += 1

    # ------------------------------------------------------------------ assets
    def import_assets(self, bundle_zip: bytes, passwords: dict[str, str]) -> None:
        self.request(
            "POST",
            "/api/v1/assets/import/",
            files={"bundle": ("bundle.zip", bundle_zip, "application/zip")},
            data={"passwords": json.dumps(passwords)},
        )


def _rison(value: Any) -> str:
    """Encode a value as Rison (the query syntax of Superset's list endpoints)."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if value and all(c.isalnum() or c in "-_./~" for c in value) and not value[0].isdigit() and value[0] != "-":
            return value
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(_rison(v) for v in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{_rison(k)}:{_rison(v)}" for k, v in value.items()) + ")"
    raise TypeError(f"cannot encode {type(value).__name__} as rison")
