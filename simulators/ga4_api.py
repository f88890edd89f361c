"""Google Analytics 4 Data API v1beta (`properties/{id}:runReport`) over the store
`SIM_DATA_DIR/portal_analytics.sqlite`, with the OAuth 2.0 token endpoint a service account
exchanges its signed JWT at.

    python -m simulators.ga4_api --port 8704 [--tokens-per-hour 40000]

Contract and the quirks reproduced: simulators/README.md ("Portal analytics").
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from simulators import stores
from simulators.httpbase import ApiError, Request, Response, Route, SimServer, json_error, run_cli, serve_in_thread

__all__ = ["Ga4Server", "ensure_service_account", "make_server", "main", "serve_in_thread", "write_store"]

STORE_NAME = "portal_analytics.sqlite"
PROPERTY_ID = "412345678"
TIME_ZONE = "Europe/Paris"
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_LIMIT, MAX_LIMIT = 10_000, 250_000
DIMENSIONS = ("date", "pagePath")
# name -> (store column, GA4 metric type)
METRICS = {
    "sessions": ("sessions", "TYPE_INTEGER"),
    "screenPageViews": ("screen_page_views", "TYPE_INTEGER"),
    "userEngagementDuration": ("user_engagement_duration", "TYPE_SECONDS"),
    "keyEvents": ("key_events", "TYPE_FLOAT"),
}
RENAMED_METRICS = {"conversions": "keyEvents"}  # GA4 renamed conversions to key events in 2024
# Share of a day's final figures GA4 shows while it is still processing it, by hours since the
# end of the day ("data freshness": standard properties settle within 24-48 h, revisions up to 72 h).
PROCESSING = ((12, 0.80), (24, 0.91), (48, 0.97), (72, 0.99))
EARLIEST_DATE = date(2015, 8, 14)

SCHEMA = """
create table if not exists property (
    property_id  text primary key,
    time_zone    text not null,
    currency     text not null,
    data_as_of   text not null           -- instant up to which the property has collected data (UTC, ISO)
);
create table if not exists traffic (
    day                       text not null,   -- YYYYMMDD in the property's time zone
    page_path                 text not null,   -- '' for the whole site (reports without pagePath)
    sessions                  integer not null,
    screen_page_views         integer not null,
    user_engagement_duration  integer not null,
    key_events                integer not null,
    primary key (day, page_path)
);
"""


def default_store_path() -> Path:
    return stores.sim_data_dir() / STORE_NAME


def connect_store(path: Path) -> sqlite3.Connection:
    return stores.connect(path, SCHEMA)


def _google_error(code: int, status: str, message: str) -> ApiError:
    return json_error(code, {"error": {"code": code, "message": message, "status": status}})


# --------------------------------------------------------------------------- service-account keys
def ensure_service_account(path: Path, token_uri: str, client_email: str | None = None) -> dict[str, Any]:
    """The service account's JSON key file as Google Cloud issues it; created once (RSA 2048)."""
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    project = "service-client-analytics"
    document = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email or f"portal-reporting@{project}.iam.gserviceaccount.com",
        "client_id": str(100_000_000_000_000_000_000 + secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)
    return document


# --------------------------------------------------------------------------- dates
def _parse_date(value: Any, today: date, field: str) -> date:
    text = str(value or "").strip()
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    if m := re.fullmatch(r"(\d+)daysAgo", text):
        return today - timedelta(days=int(m.group(1)))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise _google_error(
        400, "INVALID_ARGUMENT",
        f"Invalid {field} '{text}'. Dates must be in the format YYYY-MM-DD, NdaysAgo, yesterday, or today.",
    )  # fmt: skip


def processed_share(day: str, data_as_of: datetime, path: str) -> float:
    """How much of the day's final figures GA4 shows at `data_as_of` (1.0 once processing is over)."""
    end_of_day = datetime.combine(date(int(day[:4]), int(day[4:6]), int(day[6:])) + timedelta(days=1),
                                  datetime.min.time(), ZoneInfo(TIME_ZONE))  # fmt: skip
    age_hours = (data_as_of - end_of_day).total_seconds() / 3600
    for hours, share in PROCESSING:
        if age_hours < hours:
            # A stable per-row wobble, so rows of one day are not all scaled alike.
            wobble = (zlib.crc32(f"{day}|{path}".encode()) % 1000) / 1000 * 0.06 - 0.04
            return min(1.0, max(0.0, share + wobble))
    return 1.0


def write_store(path: Path, property_id: str, data_as_of: datetime, rows: list[tuple]) -> int:
    """rows: (day YYYYMMDD, page_path or '', sessions, screen_page_views, user_engagement_duration, key_events)."""
    conn = connect_store(path)
    try:
        conn.execute("begin")
        conn.execute("delete from property")
        conn.execute("delete from traffic")
        conn.execute(
            "insert into property (property_id, time_zone, currency, data_as_of) values (?, ?, 'EUR', ?)",
            (property_id, TIME_ZONE, data_as_of.astimezone(UTC).isoformat()),
        )
        conn.executemany("insert or replace into traffic values (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("commit")
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()
    return len(rows)


class _TokenQuota:
    """Property tokens per clock hour and per day, as the Data API counts them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spent: dict[tuple[str, int], int] = {}

    def state(self, now: float, per_hour: int, per_day: int) -> dict[str, dict[str, int]]:
        hour, day = int(now // 3600), int(now // 86400)
        used_hour, used_day = self.spent.get(("h", hour), 0), self.spent.get(("d", day), 0)
        return {
            "tokensPerDay": {"consumed": used_day, "remaining": max(0, per_day - used_day)},
            "tokensPerHour": {"consumed": used_hour, "remaining": max(0, per_hour - used_hour)},
            "concurrentRequests": {"consumed": 0, "remaining": 10},
            "serverErrorsPerProjectPerHour": {"consumed": 0, "remaining": 10},
            "potentiallyThresholdedRequestsPerHour": {"consumed": 0, "remaining": 120},
            "tokensPerProjectPerHour": {"consumed": used_hour, "remaining": max(0, per_hour * 35 // 100 - used_hour)},
        }

    def spend(self, now: float, tokens: int) -> None:
        with self.lock:
            for key in (("h", int(now // 3600)), ("d", int(now // 86400))):
                self.spent[key] = self.spent.get(key, 0) + tokens


class Ga4Server(SimServer):
    name = "ga4"
    fault_defaults = {"tokens_per_hour": 40_000, "tokens_per_day": 200_000, "token_lifetime_seconds": 3600}

    def __init__(self, host: str, port: int, *, store_path: Path, key_path: Path, **faults: Any):
        self.store_path = store_path
        self.key_path = key_path
        super().__init__(host, port, token="", **faults)
        connect_store(store_path).close()  # an empty store until the generator fills it
        self.service_account = ensure_service_account(key_path, f"{self.base_url}/token")
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(self.service_account["private_key"].encode(), password=None)
        self.public_key = private.public_key()
        self.access_tokens: dict[str, float] = {}  # token -> expiry (server clock)
        self.quota = _TokenQuota()
        self.data_clock_hours = 0.0  # /_sim/advance: processing time elapsed since the store's data_as_of

    def routes(self) -> list[Route]:
        return [
            Route("POST", r"/v1beta/properties/(?P<property>[^/:]+):runReport", self.run_report, limits=()),
            Route("POST", r"/token", self.issue_token, limits=(), auth=False),
            Route("POST", r"/_sim/advance", self.advance),
            Route("GET", r"/_sim/quota", lambda r: Response(200, self._quota_state())),
        ]

    # ---- Google's error shapes
    def failure(self, status: int) -> Response:
        names = {500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
        return _google_error(status, names.get(status, "UNKNOWN"), "The service is currently unavailable.").response

    def authenticate(self, req: Request) -> Response | None:
        token = req.bearer_token()
        expiry = self.access_tokens.get(token or "")
        if expiry is None or expiry <= self.now():
            return _google_error(
                401, "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                "other valid authentication credential.",
            ).response  # fmt: skip
        return None

    # ---- OAuth 2.0: the JWT bearer grant of a service account
    def issue_token(self, req: Request) -> Response:
        import jwt

        form = req.form
        if form.get("grant_type") != JWT_GRANT:
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        try:
            claims = jwt.decode(
                str(form.get("assertion") or ""), self.public_key, algorithms=["RS256"],
                audience=f"http://{req.host}/token", options={"require": ["iss", "aud", "exp", "iat"]},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."})  # fmt: skip
        except jwt.InvalidAudienceError:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: aud must be the token endpoint."})  # fmt: skip
        except jwt.PyJWTError:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if claims.get("iss") != self.service_account["client_email"]:
            return Response(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
        if claims["exp"] - claims["iat"] > 3600:
            return Response(400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."})  # fmt: skip
        if SCOPE not in str(claims.get("scope", "")).split():
            return Response(400, {"error": "invalid_scope", "error_description": f"Missing scope {SCOPE}."})
        lifetime = int(self.faults["token_lifetime_seconds"])
        token = "ya29.sim-" + secrets.token_urlsafe(32)
        self.access_tokens[token] = self.now() + lifetime
        return Response(200, {"access_token": token, "expires_in": lifetime - 1, "token_type": "Bearer"})

    # ---- store
    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = connect_store(self.store_path)
        try:
            yield conn
        finally:
            conn.close()

    def _property(self, conn: sqlite3.Connection, property_id: str) -> sqlite3.Row:
        row = conn.execute("select * from property where property_id = ?", (property_id,)).fetchone()
        if row is None:
            raise _google_error(
                403, "PERMISSION_DENIED",
                "User does not have sufficient permissions for this property. To learn more about Property ID, "
                "see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
            )  # fmt: skip
        return row

    def _quota_state(self) -> dict[str, Any]:
        return self.quota.state(self.now(), int(self.faults["tokens_per_hour"]), int(self.faults["tokens_per_day"]))

    def advance(self, req: Request) -> Response:
        """Test switch: let GA4's processing run `hours` more, so provisional days settle."""
        self.data_clock_hours += float(req.json_object().get("hours", 24))
        return Response(200, {"data_clock_hours": self.data_clock_hours})

    # ---- runReport
    def run_report(self, req: Request) -> Response:
        body = req.json_object()
        quota = self._quota_state()
        if quota["tokensPerHour"]["remaining"] <= 0:
            raise _google_error(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens per hour. Wait until the next "
                                "hour to query again or request a quota increase.")  # fmt: skip
        if quota["tokensPerDay"]["remaining"] <= 0:
            raise _google_error(429, "RESOURCE_EXHAUSTED", "Exhausted property tokens for a project per day. Wait "
                                "until tomorrow to query again or request a quota increase.")  # fmt: skip
        with self._db() as conn:
            prop = self._property(conn, req.params["property"])
            data_as_of = datetime.fromisoformat(prop["data_as_of"]) + timedelta(hours=self.data_clock_hours)
            today = data_as_of.astimezone(ZoneInfo(prop["time_zone"])).date()
            dimensions, metrics = self._fields(body)
            start, end = self._date_range(body, today)
            limit, offset = self._paging(body)
            rows = self._rows(conn, dimensions, metrics, start, end, data_as_of)
        rows = self._ordered(rows, body.get("orderBys") or [], dimensions, metrics)
        page = rows[offset : offset + limit]
        response: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dimensions],
            "metricHeaders": [{"name": m, "type": METRICS[m][1]} for m in metrics],
        }
        if page:
            response["rows"] = [
                {
                    "dimensionValues": [{"value": v} for v in dims],
                    "metricValues": [{"value": str(v)} for v in values],
                }
                for dims, values in page
            ]
        if rows:
            response["rowCount"] = len(rows)  # absent, like "rows", when the report is empty
        response["metadata"] = {"currencyCode": prop["currency"], "timeZone": prop["time_zone"]}
        cost = 1 + math.ceil(((end - start).days + 1) / 90) + len(page) // 2000
        self.quota.spend(self.now(), cost)
        if body.get("returnPropertyQuota"):
            response["propertyQuota"] = self._quota_state()
        response["kind"] = "analyticsData#runReport"
        return Response(200, response)

    @staticmethod
    def _fields(body: dict[str, Any]) -> tuple[list[str], list[str]]:
        dimensions = [str((d or {}).get("name")) for d in body.get("dimensions") or []]
        metrics = [str((m or {}).get("name")) for m in body.get("metrics") or []]
        for name in dimensions:
            if name not in DIMENSIONS:
                raise _google_error(400, "INVALID_ARGUMENT", f"Field {name} is not a valid dimension. For a list of "
                                    "valid dimensions and metrics, see https://developers.google.com/analytics/"
                                    "devguides/reporting/data/v1/api-schema ")  # fmt: skip
        for name in metrics:
            if name in RENAMED_METRICS:
                raise _google_error(400, "INVALID_ARGUMENT", f"Field {name} is not a valid metric. Did you mean "
                                    f"{RENAMED_METRICS[name]}?")  # fmt: skip
            if name not in METRICS:
                raise _google_error(400, "INVALID_ARGUMENT", f"Field {name} is not a valid metric.")
        if not metrics:
            raise _google_error(400, "INVALID_ARGUMENT", "Report requests must have at least one metric.")
        if len(set(dimensions)) < len(dimensions) or len(set(metrics)) < len(metrics):
            raise _google_error(400, "INVALID_ARGUMENT", "Duplicate dimension or metric names are not allowed.")
        return dimensions, metrics

    @staticmethod
    def _date_range(body: dict[str, Any], today: date) -> tuple[date, date]:
        ranges = body.get("dateRanges") or []
        if len(ranges) != 1:
            raise _google_error(400, "INVALID_ARGUMENT", "This property's simulator answers exactly one dateRange "
                                "per request (GA4 allows up to 4 and adds a dateRange dimension).")  # fmt: skip
        start = _parse_date(ranges[0].get("startDate"), today, "startDate")
        end = _parse_date(ranges[0].get("endDate"), today, "endDate")
        if start > end:
            raise _google_error(400, "INVALID_ARGUMENT", "The dateRange's startDate must not be after its endDate.")
        if start < EARLIEST_DATE:
            raise _google_error(400, "INVALID_ARGUMENT", "The dateRange's startDate must be on or after 2015-08-14.")
        return start, end

    @staticmethod
    def _paging(body: dict[str, Any]) -> tuple[int, int]:
        try:
            limit = int(body.get("limit") or DEFAULT_LIMIT)
            offset = int(body.get("offset") or 0)
        except (TypeError, ValueError) as exc:
            raise _google_error(400, "INVALID_ARGUMENT", "limit and offset must be integers.") from exc
        if limit <= 0 or offset < 0:
            raise _google_error(400, "INVALID_ARGUMENT", "limit must be positive and offset non-negative.")
        return min(limit, MAX_LIMIT), offset  # more than 250,000 is silently capped

    def _rows(
        self, conn: sqlite3.Connection, dimensions: list[str], metrics: list[str], start: date, end: date,
        data_as_of: datetime,
    ) -> list[tuple[tuple[str, ...], tuple]]:  # fmt: skip
        by_page = "pagePath" in dimensions
        stored = conn.execute(
            "select * from traffic where day between ? and ? and "
            + ("page_path <> ''" if by_page else "page_path = ''"),
            (start.strftime("%Y%m%d"), end.strftime("%Y%m%d")),
        ).fetchall()
        groups: dict[tuple[str, ...], list[float]] = {}
        for r in stored:
            if r["day"] > data_as_of.astimezone(ZoneInfo(TIME_ZONE)).strftime("%Y%m%d"):
                continue  # not collected yet
            share = processed_share(r["day"], data_as_of, r["page_path"])
            key = tuple(r["day"] if d == "date" else r["page_path"] for d in dimensions)
            values = groups.setdefault(key, [0.0] * len(metrics))
            for i, m in enumerate(metrics):
                values[i] += math.floor(r[METRICS[m][0]] * share)
        # Rows whose metrics are all zero are left out (keepEmptyRows: false).
        return [(k, tuple(int(x) for x in v)) for k, v in groups.items() if any(v)]

    @staticmethod
    def _ordered(
        rows: list[tuple[tuple[str, ...], tuple]], order_bys: list[dict], dimensions: list[str], metrics: list[str]
    ) -> list[tuple[tuple[str, ...], tuple]]:
        if not order_bys:
            # Unspecified order: by the first metric, descending. A client paging by offset without
            # ordering on its dimensions skips and repeats rows whenever the figures move in between.
            return sorted(rows, key=lambda r: (-r[1][0], r[0]))
        for spec in reversed(order_bys):
            desc = bool(spec.get("desc"))
            if "dimension" in spec:
                name = spec["dimension"].get("dimensionName")
                if name not in dimensions:
                    raise _google_error(400, "INVALID_ARGUMENT", f"OrderBy dimension {name} is not in the request.")
                i = dimensions.index(name)
                rows = sorted(rows, key=lambda r, i=i: r[0][i], reverse=desc)
            elif "metric" in spec:
                name = spec["metric"].get("metricName")
                if name not in metrics:
                    raise _google_error(400, "INVALID_ARGUMENT", f"OrderBy metric {name} is not in the request.")
                i = metrics.index(name)
                rows = sorted(rows, key=lambda r, i=i: r[1][i], reverse=desc)
        return rows


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    store_path: str | Path | None = None,
    key_path: str | Path | None = None,
    **limits: Any,
) -> Ga4Server:
    """A GA4 Data API server, not yet serving. `key_path`: the service account's JSON key
    (created if missing; default GA4_SIM_KEY_FILE). `limits`: e.g. `tokens_per_hour=5`."""
    key = key_path or os.environ.get("GA4_SIM_KEY_FILE")
    if not key:
        raise ValueError("GA4_SIM_KEY_FILE is not set (scripts/run.sh exports it)")
    path = Path(store_path) if store_path else default_store_path()
    return Ga4Server(host, port, store_path=path, key_path=Path(key), **limits)


def main(argv: list[str] | None = None) -> None:
    run_cli(
        make_server,
        description="Google Analytics 4 Data API simulator (the customer portal's web analytics)",
        default_port=8704,
        limit_flags={"tokens_per_hour": int, "tokens_per_day": int},
        argv=argv,
    )


if __name__ == "__main__":
    main()
