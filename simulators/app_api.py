"""REST JSON API of the technicians' mobile app over `SIM_DATA_DIR/mobile_app.sqlite`.

    python -m simulators.app_api --port 8702 [--rate-limit-per-10s 100]

Keyset paging on (updated_at, id): a record updated while a client pages moves to
the end and is served again. Contract: simulators/README.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulators import stores
from simulators.httpbase import (
    Request,
    Response,
    Route,
    SimServer,
    json_error,
    parse_instant,
    run_cli,
    serve_in_thread,
)

__all__ = ["AppServer", "decode_cursor", "encode_cursor", "make_server", "main", "serve_in_thread"]

DEFAULT_LIMIT, MAX_LIMIT = 100, 500


def encode_cursor(updated_at: str, record_id: str) -> str:
    raw = json.dumps({"u": updated_at, "i": record_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return str(position["u"]), str(position["i"])
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise json_error(400, {"error": "invalid cursor"}) from exc


class AppServer(SimServer):
    name = "mobile_app"
    fault_defaults = {"rate_limit_per_10s": 100}
    limiter_settings = {"default": ("rate_limit_per_10s", 10.0)}

    def __init__(self, host: str, port: int, *, store_path: Path, token: str, **faults: Any):
        self.store_path = store_path
        super().__init__(host, port, token=token, **faults)
        stores.connect_app(store_path).close()  # an empty store until the generator fills it

    def routes(self) -> list[Route]:
        return [
            Route("GET", r"/api/v1/(?P<resource>[^/]+)", self.list_records),
            Route("POST", r"/_sim/touch", self.touch),
        ]

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = stores.connect_app(self.store_path)
        try:
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _resource(value: Any) -> str:
        if value not in stores.APP_RESOURCES:
            raise json_error(404, {"error": f"unknown resource {value!r}", "resources": list(stores.APP_RESOURCES)})
        return value

    def list_records(self, req: Request) -> Response:
        resource = self._resource(req.params["resource"])
        try:
            limit = int(req.arg("limit") or DEFAULT_LIMIT)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise json_error(400, {"error": f"limit must be an integer between 1 and {MAX_LIMIT}"})
        clauses, params = [], []
        if since := req.arg("updated_since"):
            try:
                clauses.append("updated_at >= ?")
                params.append(stores.iso_utc(parse_instant(since)))
            except (ValueError, OverflowError) as exc:
                raise json_error(400, {"error": f"updated_since must be ISO-8601, got {since!r}"}) from exc
        if cursor := req.arg("cursor"):
            clauses.append("(updated_at, id) > (?, ?)")
            params.extend(decode_cursor(cursor))
        where = f"where {' and '.join(clauses)}" if clauses else ""
        with self._db() as conn:
            rows = conn.execute(
                f'select id, updated_at, payload from "{resource}" {where} order by updated_at, id limit ?',
                (*params, limit + 1),
            ).fetchall()
        page, has_more = rows[:limit], len(rows) > limit
        next_cursor = json.dumps(encode_cursor(page[-1]["updated_at"], page[-1]["id"])) if has_more else "null"
        # Payloads are stored exactly as served: splice them in rather than decode and re-encode.
        body = f'{{"data":[{",".join(r["payload"] for r in page)}],"next_cursor":{next_cursor},"has_more":{json.dumps(has_more)}}}'
        return Response(200, body)

    def touch(self, req: Request) -> Response:
        """Test switch: merge fields into records and bump their updated_at (column and payload) to now."""
        spec = req.json_object()
        resource = self._resource(spec.get("resource"))
        ids = [str(i) for i in spec.get("ids") or []]
        fields = spec.get("fields") or {}
        now = stores.now_iso()
        with self._db() as conn:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(f'select id, payload from "{resource}" where id in ({marks})', ids).fetchall()
            updated = [{**json.loads(r["payload"]), **fields, "id": r["id"], "updated_at": now} for r in rows]
            if updated:
                stores.upsert_app_records(conn, resource, updated)
        found = {u["id"] for u in updated}
        return Response(
            200, {"touched": sorted(found), "missing": [i for i in ids if i not in found], "updated_at": now}
        )


def make_server(
    host: str = "127.0.0.1",
    port: int = 0,
    store_path: str | Path | None = None,
    token: str | None = None,
    **limits: Any,
) -> AppServer:
    """A mobile-app API server, not yet serving: use `serve_in_thread(server)` or `server.serve_forever()`.

    `limits` are start-up fault settings, e.g. `rate_limit_per_10s=1000`.
    """
    token = token or os.environ.get("APP_SIM_API_KEY")
    if not token:
        raise ValueError("APP_SIM_API_KEY is not set (scripts/run.sh exports it)")
    path = Path(store_path) if store_path else stores.app_store_path()
    return AppServer(host, port, store_path=path, token=token, **limits)


def main(argv: list[str] | None = None) -> None:
    run_cli(
        make_server,
        description="Technicians' mobile app API simulator",
        default_port=8702,
        limit_flags={"rate_limit_per_10s": int},
        argv=argv,
    )


if __name__ == "__main__":
    main()
