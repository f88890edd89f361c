"""`python -m cs_analytics.bi.provision` (run by `make bi`): put the dashboards of bi/ into a
running Superset, idempotently.

1. Read the catalog of `marts` as `bi_reader` (the role Superset connects as) and build the
   import bundle from bi/*.yaml; a spec naming a missing dataset, column or metric stops
   here with the file and the name.
2. Import the bundle (database connection, datasets, charts, dashboards) through
   /api/v1/assets/import/, overwriting by UUID; the bi_reader password goes in the request,
   never in a file.
3. Access (bi/access.yaml): one Superset role per audience with read access to the datasets
   of the dashboards that list it; one role and login per active technician with a
   row-level-security filter on their own rows; dashboards restricted to their roles.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql

from cs_analytics.bi.specs import DATABASE_FILE, SCHEMA, SPEC_DIR, Bundle, Catalog, SpecError, build_bundle
from cs_analytics.bi.superset_api import SupersetClient, SupersetError

BI_ROLE = "bi_reader"
BASE_ROLE = "Gamma"  # Superset's built-in role for people who read dashboards (no data by itself)


@dataclass(frozen=True)
class Settings:
    url: str
    admin_user: str
    admin_password: str
    users_password: str
    warehouse_url: str  # the warehouse database; the user part is ignored (Superset reads as bi_reader)
    bi_reader_password: str

    @classmethod
    def from_env(cls) -> Settings:
        missing = [
            k
            for k in ("BI_URL", "BI_ADMIN_PASSWORD", "BI_USERS_PASSWORD", "BI_WAREHOUSE_URL", "BI_READER_PASSWORD")
            if not os.environ.get(k)
        ]
        if missing:
            raise SystemExit(f"[bi] ERROR: {', '.join(missing)} not set: run through `make bi` (or scripts/run.sh)")
        return cls(
            url=os.environ["BI_URL"],
            admin_user=os.environ.get("BI_ADMIN_USER", "admin"),
            admin_password=os.environ["BI_ADMIN_PASSWORD"],
            users_password=os.environ["BI_USERS_PASSWORD"],
            warehouse_url=os.environ["BI_WAREHOUSE_URL"],
            bi_reader_password=os.environ["BI_READER_PASSWORD"],
        )

    def bi_reader_conninfo(self) -> str:
        parts = urlsplit(self.warehouse_url)
        return psycopg.conninfo.make_conninfo(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            dbname=parts.path.lstrip("/"),
            user=BI_ROLE,
            password=self.bi_reader_password,
            connect_timeout=10,
        )

    def superset_database_uri(self) -> str:
        """The connection Superset stores, password masked (the import supplies it apart)."""
        parts = urlsplit(self.warehouse_url)
        host = parts.hostname or "127.0.0.1"
        return f"postgresql+psycopg2://{BI_ROLE}:XXXXXXXXXX@{host}:{parts.port or 5432}/{quote(parts.path.lstrip('/'))}"


def log(msg: str) -> None:
    print(f"[bi] {msg}", flush=True)


# --------------------------------------------------------------------------- warehouse side
class WarehouseCatalog:
    """What bi_reader can read in `marts`, and a dry-run check of SQL fragments on it."""

    def __init__(self, conninfo: str) -> None:
        try:
            self.conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:
            raise SystemExit(
                f"[bi] ERROR: cannot connect to the warehouse as {BI_ROLE}: {str(exc).strip()}\n"
                "      The role is created by the transform DAG: run `make demo` first."
            ) from exc
        self.conn.execute("set statement_timeout = '30s'")

    def catalog(self) -> Catalog:
        rows = self.conn.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = %s order by table_name, ordinal_position",
            (SCHEMA,),
        ).fetchall()
        out: Catalog = {}
        for table, column, data_type in rows:
            out.setdefault(table, {})[column] = data_type
        return out

    def check_sql(self, table: str, select_expression: str, where_expression: str) -> str | None:
        query = sql.SQL("select {} from {}.{} where ({}) and false").format(
            sql.SQL(select_expression), sql.Identifier(SCHEMA), sql.Identifier(table), sql.SQL(where_expression)
        )
        try:
            self.conn.execute(query)
        except psycopg.Error as exc:
            return str(exc).strip().splitlines()[0]
        return None

    def technicians(self, query: str) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute(query).fetchall()


def build(settings: Settings, wh: WarehouseCatalog, spec_dir: Path = SPEC_DIR) -> Bundle:
    catalog = wh.catalog()
    if not catalog:
        raise SystemExit(
            f"[bi] ERROR: {BI_ROLE} reads no table in `{SCHEMA}`: run `make demo` first (it builds the marts)"
        )
    return build_bundle(catalog, wh.check_sql, settings.superset_database_uri(), spec_dir=spec_dir)


# --------------------------------------------------------------------------- Superset side
def _by_name(rows: list[dict], key: str = "name") -> dict[str, dict]:
    return {r[key]: r for r in rows}


class Provisioner:
    def __init__(self, client: SupersetClient, bundle: Bundle, settings: Settings) -> None:
        self.client, self.bundle, self.settings = client, bundle, settings

    def import_bundle(self) -> None:
        self.client.import_assets(self.bundle.zip_bytes(), {DATABASE_FILE: self.settings.bi_reader_password})

    def dataset_ids(self) -> dict[str, int]:
        wanted = set(self.bundle.datasets.values())
        rows = self.client.list_all("/api/v1/dataset/", columns=["id", "table_name", "uuid"])
        ids = {r["table_name"]: r["id"] for r in rows if str(r.get("uuid")) in wanted}
        missing = set(self.bundle.datasets) - set(ids)
        if missing:
            raise SupersetError(f"datasets missing after the import: {sorted(missing)}")
        return ids

    def dashboard_ids(self) -> dict[str, int]:
        rows = self.client.list_all("/api/v1/dashboard/", columns=["id", "slug", "dashboard_title"])
        slugs = {r["slug"]: r["id"] for r in rows}
        return {d.key: slugs[d.slug] for d in self.bundle.dashboards}

    def datasource_permissions(self, dataset_ids: dict[str, int]) -> dict[str, int]:
        """dataset table -> id of its `datasource_access` permission."""
        by_dataset_id = {v: k for k, v in dataset_ids.items()}
        out = {}
        for row in self.client.list_all("/api/v1/security/permissions-resources/"):
            if row["permission"]["name"] != "datasource_access":
                continue
            view = row["view_menu"]["name"]  # [database].[table](id:N)
            if "(id:" in view:
                dataset_id = int(view.rsplit("(id:", 1)[1].rstrip(")"))
                if dataset_id in by_dataset_id:
                    out[by_dataset_id[dataset_id]] = row["id"]
        return out

    def ensure_role(self, name: str, permission_ids: list[int], roles: dict[str, dict]) -> int:
        if name not in roles:
            created = self.client.request("POST", "/api/v1/security/roles/", json={"name": name})
            roles[name] = {"id": created["id"], "name": name}
        role_id = roles[name]["id"]
        # replaces the role's permissions with exactly these
        self.client.request(
            "POST", f"/api/v1/security/roles/{role_id}/permissions", json={"permission_view_menu_ids": permission_ids}
        )
        return role_id

    def ensure_user(self, user: dict[str, Any], role_ids: list[int], users: dict[str, dict]) -> None:
        body = {
            "first_name": user.get("first_name", user["username"]),
            "last_name": user.get("last_name", ""),
            "email": user.get("email") or f"{user['username']}@service-client.local",
            "active": True,
            "roles": role_ids,
            "password": self.settings.users_password,
        }
        if user["username"] in users:
            self.client.request("PUT", f"/api/v1/security/users/{users[user['username']]['id']}", json=body)
        else:
            self.client.request("POST", "/api/v1/security/users/", json={**body, "username": user["username"]})

    def ensure_rls(self, name: str, clause: str, table_ids: list[int], role_id: int, group_key: str, rls: dict) -> None:
        body = {
            "name": name,
            "description": "bi/access.yaml: a technician reads only their own rows",
            "filter_type": "Regular",
            "tables": table_ids,
            "roles": [role_id],
            "group_key": group_key,
            "clause": clause,
        }
        if name in rls:
            self.client.request("PUT", f"/api/v1/rowlevelsecurity/{rls[name]['id']}", json=body)
        else:
            self.client.request("POST", "/api/v1/rowlevelsecurity/", json=body)

    def apply_access(self, wh: WarehouseCatalog) -> dict[str, Any]:
        access = self.bundle.access
        dataset_ids = self.dataset_ids()
        permissions = self.datasource_permissions(dataset_ids)
        roles = _by_name(self.client.list_all("/api/v1/security/roles/"))
        users = _by_name(self.client.list_all("/api/v1/security/users/", columns=["id", "username"]), "username")
        rls = _by_name(self.client.list_all("/api/v1/rowlevelsecurity/", columns=["id", "name"]))
        if BASE_ROLE not in roles:
            raise SupersetError(f"Superset has no {BASE_ROLE} role: was `superset init` run?")
        technicians_cfg = access.get("technicians") or {}
        technicians_alias = technicians_cfg.get("dashboard_role", "Techniciens")

        def datasets_for(role: str) -> list[str]:
            return sorted({t for d in self.bundle.dashboards if role in d.roles for t in d.datasets})

        role_ids: dict[str, int] = {}
        for group, cfg in (access.get("groups") or {}).items():
            tables = datasets_for(group)
            role_ids[group] = self.ensure_role(group, [permissions[t] for t in tables], roles)
            for user in (cfg or {}).get("users") or []:
                self.ensure_user(user, [roles[BASE_ROLE]["id"], role_ids[group]], users)

        technician_logins = []
        if technicians_cfg:
            tables = datasets_for(technicians_alias)
            column = technicians_cfg["rls_column"]
            for tech in wh.technicians(technicians_cfg["query"]):
                role = technicians_cfg["role"].format(**tech)
                role_id = self.ensure_role(role, [permissions[t] for t in tables], roles)
                role_ids[role] = role_id
                clause = f"{column} = '{str(tech[column]).replace(chr(39), chr(39) * 2)}'"
                self.ensure_rls(role, clause, [dataset_ids[t] for t in tables], role_id, column, rls)
                self.ensure_user(
                    {"username": tech["username"], "first_name": tech.get("first_name", ""),
                     "last_name": tech.get("last_name", ""), "email": tech.get("email")},
                    [roles[BASE_ROLE]["id"], role_id],
                    users,
                )  # fmt: skip
                technician_logins.append(tech["username"])

        dashboard_ids = self.dashboard_ids()
        for dashboard in self.bundle.dashboards:
            ids = []
            for role in dashboard.roles:
                if role == technicians_alias:
                    ids += [rid for name, rid in role_ids.items() if name not in (access.get("groups") or {})]
                elif role in role_ids:
                    ids.append(role_ids[role])
                else:
                    raise SpecError(f"{dashboard.source}: role '{role}' is not a group of bi/access.yaml")
            self.client.request("PUT", f"/api/v1/dashboard/{dashboard_ids[dashboard.key]}", json={"roles": ids})
        return {"roles": sorted(role_ids), "technician_logins": technician_logins, "dashboards": dashboard_ids}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="build and check the bundle only (no Superset needed)")
    parser.add_argument("--spec-dir", type=Path, default=SPEC_DIR, help="the folder of the YAML specs (default bi/)")
    parser.add_argument("--wait-seconds", type=float, default=60, help="how long to wait for Superset to answer")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    wh = WarehouseCatalog(settings.bi_reader_conninfo())
    try:
        bundle = build(settings, wh, args.spec_dir)
    except SpecError as exc:
        print(f"[bi] ERROR: {exc}", file=sys.stderr)
        return 1
    log(f"bundle: {len(bundle.datasets)} datasets, {len(bundle.dashboards)} dashboards, "
        f"{sum(len(d.charts) for d in bundle.dashboards)} charts, checked against marts as {BI_ROLE}")  # fmt: skip
    if args.check:
        return 0
    client = SupersetClient(settings.url)
    try:
        client.wait_until_up(timeout_s=args.wait_seconds)
        client.login(settings.admin_user, settings.admin_password)
        provisioner = Provisioner(client, bundle, settings)
        provisioner.import_bundle()
        result = provisioner.apply_access(wh)
    except (SupersetError, SpecError) as exc:
        print(f"[bi] ERROR: {exc}", file=sys.stderr)
        return 1
    log(f"roles: {', '.join(result['roles'])}")
    for dashboard in bundle.dashboards:
        log(f"{dashboard.title:<40} {settings.url}/superset/dashboard/{dashboard.slug}/")
    log(f"login: {settings.admin_user} (BI_ADMIN_PASSWORD in .local/secrets.env); "
        f"demo logins {', '.join(u['username'] for g in (bundle.access.get('groups') or {}).values() for u in (g or {}).get('users', []))}"
        f" and one per technician (BI_USERS_PASSWORD)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
