#!/usr/bin/env python3
"""Local stack manager: the embedded PostgreSQL cluster, the simulated source
systems, the loopback Slack/SMTP sinks and the Airflow UI processes.

Standard library only, so it runs before the virtualenv exists.

    python scripts/stack.py env            # shell exports for every setting
    python scripts/stack.py pg-up|pg-down  # embedded warehouse cluster
    python scripts/stack.py services-up    # simulators + sinks (needs the venv)
    python scripts/stack.py ui-up          # Airflow api-server, scheduler, dag-processor, triggerer
    python scripts/stack.py redis-up|redis-down  # Redis, the Celery broker of `make celery`
    python scripts/stack.py bi-up|bi-down  # Superset (dashboards) from .venv-bi, see bi/README.md
    python scripts/stack.py down           # stop everything this project started
    python scripts/stack.py status

Every setting respects a value already present in the environment (or in the checkout's
git-ignored `.env`), so WAREHOUSE_URL (or any AIRFLOW_CONN_*) pointing elsewhere replaces the
local one, and a second checkout with other ports in its `.env` runs its own stack beside this one.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("CSA_LOCAL_DIR", REPO / ".local")).resolve()
RUN_DIR = LOCAL / "run"
LOG_DIR = LOCAL / "log"


def _pg_dir() -> Path:
    """The cluster's folder: .local/pg, unless the `postgres` user (used when we run as root)
    cannot reach it, e.g. a checkout under /root; then a folder under /var/tmp, keyed on the checkout."""
    local_pg = LOCAL / "pg"
    if os.geteuid() != 0 or (local_pg / "data" / "PG_VERSION").exists():
        return local_pg
    LOCAL.mkdir(parents=True, exist_ok=True)
    runuser = shutil.which("runuser")
    if (
        runuser
        and subprocess.run([runuser, "-u", "postgres", "--", "test", "-x", str(LOCAL)], capture_output=True).returncode
        != 0
    ):
        return Path("/var/tmp") / f"cs_analytics-pg-{hashlib.sha1(str(LOCAL).encode()).hexdigest()[:10]}"
    return local_pg


PG_DIR = _pg_dir()
PG_DATA = PG_DIR / "data"
PG_SOCKET_DIR = PG_DIR / "run"
SECRETS_FILE = LOCAL / "secrets.env"

DEFAULT_PORTS = {
    "LOCAL_PG_PORT": 55432,
    "CRM_SIM_PORT": 8701,
    "APP_SIM_PORT": 8702,
    "SLACK_SIM_PORT": 8703,
    "SMTP_SIM_PORT": 8025,
    "AIRFLOW_UI_PORT": 8080,
    "BI_PORT": 8088,
    "GA4_SIM_PORT": 8704,
    "GRAPH_SIM_PORT": 8705,
    "WEATHER_SIM_PORT": 8706,
    "REDIS_PORT": 6379,
}
# The simulated GA4 property and Entra ID app (simulators/ga4_api.py, simulators/graph_api.py).
GA4_SIM_PROPERTY_ID = "412345678"
GRAPH_SIM_TENANT_ID = "5c1f6a2e-8d3b-4f7a-9e21-3b6f0d9c4a17"
GRAPH_SIM_CLIENT_ID = "b7e4c2a9-1f3d-4e6b-8a5c-2d9f7e1b3c64"
SHARED_MAILBOX = "service-client@service-client.local"
APP_ROLE = "csa"
# The warehouse's flow roles (plugins/cs_analytics/roles.py) and their generated passwords.
WAREHOUSE_ROLE_PASSWORDS = {
    flow: f"WAREHOUSE_{flow.upper()}_PASSWORD" for flow in ("loader", "transformer", "ml", "alerting")
}
LOCAL_DATABASES = ("warehouse", "airflow", "sage_erp", "mlflow")

# Background services: name -> (python module, port setting). Started with the venv python.
SERVICES = {
    "crm": ("simulators.crm_api", "CRM_SIM_PORT"),
    "mobile_app": ("simulators.app_api", "APP_SIM_PORT"),
    "slack": ("simulators.sinks.slack_api", "SLACK_SIM_PORT"),
    "smtp": ("simulators.sinks.smtp_sink", "SMTP_SIM_PORT"),
    "ga4": ("simulators.ga4_api", "GA4_SIM_PORT"),
    "graph": ("simulators.graph_api", "GRAPH_SIM_PORT"),
    "weather": ("simulators.weather_api", "WEATHER_SIM_PORT"),
}
AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def log(msg: str) -> None:
    print(f"[stack] {msg}", file=sys.stderr, flush=True)


def fail(msg: str) -> None:
    print(f"[stack] ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# --------------------------------------------------------------------------- settings
def _secrets() -> dict[str, str]:
    """Generated once per checkout and kept in the git-ignored .local folder."""
    values: dict[str, str] = {}
    if SECRETS_FILE.exists():
        for line in SECRETS_FILE.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                values[k] = v
    wanted = (
        "LOCAL_PG_PASSWORD",
        "CRM_SIM_TOKEN",
        "APP_SIM_API_KEY",
        "SLACK_SIM_TOKEN",
        "BI_READER_PASSWORD",
        "SUPERSET_SECRET_KEY",
        "BI_ADMIN_PASSWORD",
        "BI_USERS_PASSWORD",
        "GRAPH_SIM_CLIENT_SECRET",
        *WAREHOUSE_ROLE_PASSWORDS.values(),
    )
    missing = [k for k in wanted if k not in values]
    if missing:
        for k in missing:
            prefix = "xoxb-local-" if k == "SLACK_SIM_TOKEN" else ""
            values[k] = prefix + secrets.token_hex(16)
        LOCAL.mkdir(parents=True, exist_ok=True)
        SECRETS_FILE.write_text(
            "# generated by scripts/stack.py for the local stack; never commit\n"
            + "".join(f"{k}={v}\n" for k, v in values.items())
        )
        SECRETS_FILE.chmod(0o600)
    return values


def dotenv(path: Path = REPO / ".env") -> dict[str, str]:
    """KEY=VALUE lines of the checkout's git-ignored `.env` (as docker compose reads it), if any.
    Lets one checkout run its own stack beside another (other ports) without exporting anything."""
    values: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                value = value.split(" #", 1)[0].strip().strip("'\"")
                if value:
                    values[key.strip().removeprefix("export ").strip()] = value
    return values


def settings() -> dict[str, str]:
    """Every environment variable the project reads, with local defaults. The process
    environment wins, then the checkout's `.env`, then the defaults below."""
    env = {**dotenv(), **os.environ}
    s: dict[str, str] = {}

    def setdefault(key: str, value: object) -> str:
        s[key] = env.get(key) or str(value)
        return s[key]

    for key, port in DEFAULT_PORTS.items():
        setdefault(key, port)
    sec = _secrets()
    for key in (
        "CRM_SIM_TOKEN",
        "APP_SIM_API_KEY",
        "SLACK_SIM_TOKEN",
        "BI_READER_PASSWORD",
        "SUPERSET_SECRET_KEY",
        "BI_ADMIN_PASSWORD",
        "BI_USERS_PASSWORD",
        "GRAPH_SIM_CLIENT_SECRET",
    ):
        setdefault(key, sec[key])
    # The GA4 simulator issues this service-account key file on its first start (a real one comes from Google Cloud).
    ga4_key = setdefault("GA4_SIM_KEY_FILE", LOCAL / "secrets" / "ga4-service-account.json")

    setdefault("CSA_HOME", REPO)
    setdefault("CSA_LOCAL_DIR", LOCAL)
    pg_base = f"postgresql://{APP_ROLE}:{quote(sec['LOCAL_PG_PASSWORD'])}@127.0.0.1:{s['LOCAL_PG_PORT']}"
    warehouse = setdefault("WAREHOUSE_URL", f"{pg_base}/warehouse")
    erp = setdefault("ERP_DATABASE_URL", f"{pg_base}/sage_erp")

    # Simulators: seed, scale, where they keep their stores, and the ground truth the pipeline never reads.
    setdefault("SIM_SEED", 42)
    setdefault("SIM_SCALE", 1)
    setdefault("SIM_YEARS", 2)
    setdefault("SIM_DATA_DIR", LOCAL / "sim")
    setdefault("GROUND_TRUTH_DIR", LOCAL / "ground_truth")
    landing = setdefault("CTI_LANDING_DIR", LOCAL / "landing" / "cti")
    setdefault("SLACK_SIM_STORE", LOCAL / "sinks" / "slack")
    setdefault("SMTP_SIM_MAILDIR", LOCAL / "sinks" / "mail")

    # Model registry (MLflow): runs and versions in the cluster's `mlflow` database, artifacts on disk.
    setdefault(
        "MLFLOW_TRACKING_URI",
        f"postgresql+psycopg2://{APP_ROLE}:{quote(sec['LOCAL_PG_PASSWORD'])}@127.0.0.1:{s['LOCAL_PG_PORT']}/mlflow",
    )
    setdefault("MLFLOW_ARTIFACT_ROOT", LOCAL / "mlflow" / "artifacts")

    # Airflow: home, metadata DB in the local cluster, project folders, connections.
    setdefault("AIRFLOW_HOME", LOCAL / "airflow")
    setdefault(
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        f"postgresql+psycopg2://{APP_ROLE}:{quote(sec['LOCAL_PG_PASSWORD'])}@127.0.0.1:{s['LOCAL_PG_PORT']}/airflow",
    )
    setdefault("AIRFLOW__CORE__DAGS_FOLDER", REPO / "dags")
    setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", REPO / "plugins")
    setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")
    # Local UI without a login screen; a deployment sets its own auth manager.
    setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    setdefault("AIRFLOW__API__PORT", s["AIRFLOW_UI_PORT"])
    setdefault("AIRFLOW__API__BASE_URL", f"http://localhost:{s['AIRFLOW_UI_PORT']}")
    setdefault("AIRFLOW__LOGGING__BASE_LOG_FOLDER", LOCAL / "airflow" / "logs")
    setdefault("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "False")
    # Cosmos pings its usage endpoint at the end of every dbt task: a network call per model task
    # (a timeout here, with no internet), data leaving the company. Opt in with True.
    setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")

    setdefault("AIRFLOW_CONN_WAREHOUSE", warehouse)
    setdefault("AIRFLOW_CONN_ERP_DB", erp)
    # Each flow logs in as its own role; host, port and database are the `warehouse` connection's.
    for flow, password_key in WAREHOUSE_ROLE_PASSWORDS.items():
        setdefault(
            f"AIRFLOW_CONN_WAREHOUSE_{flow.upper()}",
            json.dumps({"conn_type": "postgres", "login": flow, "password": sec[password_key]}),
        )
    setdefault(
        "AIRFLOW_CONN_CRM_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": int(s["CRM_SIM_PORT"]),
                "schema": "http",
                "password": sec["CRM_SIM_TOKEN"],
            }
        ),
    )
    setdefault(
        "AIRFLOW_CONN_MOBILE_APP_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": int(s["APP_SIM_PORT"]),
                "schema": "http",
                "password": sec["APP_SIM_API_KEY"],
            }
        ),
    )
    setdefault(
        "AIRFLOW_CONN_PORTAL_ANALYTICS_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": int(s["GA4_SIM_PORT"]),
                "schema": "http",
                "extra": {
                    "property_id": GA4_SIM_PROPERTY_ID,
                    "key_path": ga4_key,
                    "token_uri": f"http://127.0.0.1:{s['GA4_SIM_PORT']}/token",
                },
            }
        ),
    )
    setdefault(
        "AIRFLOW_CONN_MAILBOX_API",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": int(s["GRAPH_SIM_PORT"]),
                "schema": "http",
                "login": GRAPH_SIM_CLIENT_ID,
                "password": s["GRAPH_SIM_CLIENT_SECRET"],
                "extra": {
                    "tenant_id": GRAPH_SIM_TENANT_ID,
                    "mailbox": SHARED_MAILBOX,
                    "authority": f"http://127.0.0.1:{s['GRAPH_SIM_PORT']}",
                },
            }
        ),
    )
    # Open-Meteo's free API takes no key; the simulator plays its archive and single-runs hosts too.
    setdefault(
        "AIRFLOW_CONN_WEATHER_API",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": int(s["WEATHER_SIM_PORT"]), "schema": "http"}),
    )
    setdefault("AIRFLOW_CONN_CTI_LANDING", json.dumps({"conn_type": "fs", "extra": {"path": landing}}))
    setdefault(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": int(s["SMTP_SIM_PORT"]),
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "analytics@service-client.local"},
            }
        ),
    )
    if env.get("SLACK_BOT_TOKEN"):
        slack_conn = {"conn_type": "slack", "password": env["SLACK_BOT_TOKEN"]}
    else:
        slack_conn = {
            "conn_type": "slack",
            "password": sec["SLACK_SIM_TOKEN"],
            "extra": {"base_url": f"http://127.0.0.1:{s['SLACK_SIM_PORT']}/api/"},
        }
    setdefault("AIRFLOW_CONN_SLACK_API", json.dumps(slack_conn))

    # Notification routing.
    setdefault("ALERT_EMAIL_TO", "claire@service-client.local")
    setdefault("DATA_ENGINEERING_EMAIL_TO", "data-eng@service-client.local")
    setdefault("SLACK_ALERT_CHANNEL", "#service-client-alertes")
    setdefault("SLACK_DATA_CHANNEL", "#data-engineering")

    # dbt's profiles.yml reads only env_var(): the warehouse URL split into its parts.
    wh = urlsplit(warehouse)
    setdefault("WAREHOUSE_HOST", wh.hostname or "127.0.0.1")
    setdefault("WAREHOUSE_PORT", wh.port or 5432)
    setdefault("WAREHOUSE_USER", unquote(wh.username or ""))
    setdefault("WAREHOUSE_PASSWORD", unquote(wh.password or ""))
    setdefault("WAREHOUSE_DB", wh.path.lstrip("/") or "postgres")
    setdefault("DBT_PROFILES_DIR", REPO / "dbt_project")
    setdefault("DBT_TARGET_SCHEMA", "analytics")
    setdefault("DEMO_OUTPUT_DIR", REPO / "build" / "demo")

    # Superset (make bi): its own home (metadata, logs, pid), the admin login, and the warehouse
    # it reads as the read-only bi_reader role.
    bi_home = setdefault("SUPERSET_HOME", LOCAL / "superset")
    setdefault("SUPERSET_DATABASE_URL", f"sqlite:///{Path(bi_home) / 'superset.db'}?check_same_thread=false")
    setdefault("SUPERSET_CONFIG_PATH", REPO / "bi" / "superset_config.py")
    setdefault("BI_URL", f"http://localhost:{s['BI_PORT']}")
    setdefault("BI_ADMIN_USER", "admin")
    setdefault("BI_WAREHOUSE_URL", warehouse)
    pythonpath = f"{REPO}{os.pathsep}{REPO / 'plugins'}"
    s["PYTHONPATH"] = pythonpath + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return s


def cmd_env(_: list[str]) -> None:
    for key, value in settings().items():
        print(f"export {key}={shlex.quote(value)}")


# --------------------------------------------------------------------------- postgres
def find_pg_bin(name: str) -> str | None:
    candidates = [
        os.environ.get("PG_BIN_DIR", ""),
        *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True),
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@15/bin",
        "/usr/local/opt/postgresql@15/bin",
    ]
    for d in candidates:
        if d and Path(d, name).exists():
            return str(Path(d, name))
    return shutil.which(name)


def _pg_bins() -> dict[str, str]:
    names = ("initdb", "pg_ctl", "postgres", "psql")
    found = {n: find_pg_bin(n) for n in names}
    missing = [n for n, p in found.items() if not p]
    if missing:
        fail(
            f"PostgreSQL server binaries not found ({', '.join(missing)} missing on PATH and in "
            "/usr/lib/postgresql/*/bin). Install PostgreSQL 15: Debian/Ubuntu `apt-get install postgresql-15` "
            "(binaries land in /usr/lib/postgresql/15/bin), macOS `brew install postgresql@15`; or set PG_BIN_DIR "
            "to the folder holding initdb and pg_ctl; or point WAREHOUSE_URL, ERP_DATABASE_URL and "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN at an existing PostgreSQL server."
        )
    return found  # type: ignore[return-value]


def _as_pg_user(cmd: list[str]) -> list[str]:
    """Postgres refuses to run as root: drop to the postgres system user."""
    if os.geteuid() != 0:
        return cmd
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        fail(
            "running as root but there is no `postgres` system user to run PostgreSQL as; "
            "create one (`useradd -r postgres`) or run as a normal user."
        )
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["su", "-s", "/bin/sh", "postgres", "-c", shlex.join(cmd)]


def _chown_pg(path: Path) -> None:
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _psql(bins: dict[str, str], port: str, sql: str, db: str = "postgres") -> str:
    cmd = _as_pg_user(
        [
            bins["psql"],
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(PG_SOCKET_DIR),
            "-p",
            port,
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ]
    )
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"psql failed on the local cluster: {out.stderr.strip()}\nSQL: {sql}")
    return out.stdout.strip()


def pg_running(bins: dict[str, str] | None = None) -> bool:
    if not (PG_DATA / "PG_VERSION").exists():
        return False
    bins = bins or {"pg_ctl": find_pg_bin("pg_ctl") or "pg_ctl"}
    res = subprocess.run(_as_pg_user([bins["pg_ctl"], "status", "-D", str(PG_DATA)]), capture_output=True)
    return res.returncode == 0


def cmd_pg_up(_: list[str]) -> None:
    s = settings()
    bins = _pg_bins()
    port = s["LOCAL_PG_PORT"]
    password = _secrets()["LOCAL_PG_PASSWORD"]
    PG_DIR.mkdir(parents=True, exist_ok=True)
    PG_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    if not (PG_DATA / "PG_VERSION").exists():
        if not PG_DIR.is_relative_to(LOCAL):
            log(f"the postgres user cannot reach {LOCAL}; the cluster lives in {PG_DIR} instead")
        log(f"initdb {PG_DATA}")
        PG_DATA.mkdir(parents=True, exist_ok=True)
        _chown_pg(PG_DIR)
        PG_DATA.chmod(0o700)
        # Superuser over the private socket only; the app role authenticates with a password over TCP.
        # Some systems lack the C.UTF-8 locale: fall back to no locale.
        for locale in ("--locale=C.UTF-8", "--no-locale"):
            res = subprocess.run(
                _as_pg_user(
                    [
                        bins["initdb"],
                        "-D",
                        str(PG_DATA),
                        "-U",
                        "postgres",
                        "-E",
                        "UTF8",
                        locale,
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                    ]
                ),
                capture_output=True,
                text=True,
            )
            if res.returncode == 0:
                break
        if res.returncode != 0:
            fail(f"initdb failed: {res.stderr.strip()}")
        # Tuned for a small dev box; bulk loads (COPY) benefit from a larger WAL budget.
        with open(PG_DATA / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# --- cs_analytics local cluster ---\n"
                "listen_addresses = '127.0.0.1'\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 256MB\n"
                "max_wal_size = 4GB\n"
                "synchronous_commit = off\n"
                "timezone = 'UTC'\n"
            )
    if pg_running(bins):
        log(f"postgres already running on 127.0.0.1:{port}")
    else:
        if _port_open(int(port)):
            fail(f"port {port} is already taken by another process; set LOCAL_PG_PORT to a free port.")
        log(f"starting postgres on 127.0.0.1:{port}")
        res = subprocess.run(
            _as_pg_user(
                [
                    bins["pg_ctl"],
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(PG_DATA),
                    "-l",
                    str(PG_DIR / "postgres.log"),
                    "-o",
                    f"-p {port} -k {PG_SOCKET_DIR}",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            tail = (PG_DIR / "postgres.log").read_text()[-2000:] if (PG_DIR / "postgres.log").exists() else ""
            fail(f"pg_ctl start failed: {res.stderr.strip()}\n{tail}")
    exists = _psql(bins, port, f"select 1 from pg_roles where rolname = '{APP_ROLE}'")
    verb = "alter" if exists else "create"
    _psql(bins, port, f"{verb} role {APP_ROLE} with login createdb createrole password '{password}'")
    # Lets tests and benchmarks drop their throw-away databases even while autovacuum works on them.
    _psql(bins, port, f"grant pg_signal_backend to {APP_ROLE}")
    for db in LOCAL_DATABASES:
        if not _psql(bins, port, f"select 1 from pg_database where datname = '{db}'"):
            _psql(bins, port, f"create database {db} owner {APP_ROLE}")
    _close_databases_to_public(bins, port, s["WAREHOUSE_DB"])
    log(f"postgres ready: databases {', '.join(LOCAL_DATABASES)} on 127.0.0.1:{port}")


def _close_databases_to_public(bins: dict[str, str], port: str, warehouse_db: str) -> None:
    """BI's read-only role reaches the warehouse and nothing else. PostgreSQL lets PUBLIC (every
    role) CONNECT to and create TEMP tables in every database by default: revoke both everywhere
    but the warehouse (TEMP there too). Owners keep their own rights; idempotent."""
    literal = warehouse_db.replace("'", "''")
    _psql(
        bins,
        port,
        "do $$ declare d record; begin "
        "for d in select datname from pg_database where datallowconn loop "
        f"if d.datname = '{literal}' then execute format('revoke temporary on database %I from public', d.datname); "
        "else execute format('revoke connect, temporary on database %I from public', d.datname); end if; "
        "end loop; end $$",
    )


def cmd_pg_down(_: list[str]) -> None:
    if not (PG_DATA / "PG_VERSION").exists():
        return
    pg_ctl = find_pg_bin("pg_ctl")
    if pg_ctl and pg_running({"pg_ctl": pg_ctl}):
        subprocess.run(_as_pg_user([pg_ctl, "stop", "-m", "fast", "-w", "-D", str(PG_DATA)]), capture_output=True)
        log("postgres stopped")


# --------------------------------------------------------------------------- background processes
def _pidfile(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _read_pid(name: str) -> int | None:
    f = _pidfile(name)
    if not f.exists():
        return None
    try:
        pid = int(f.read_text().strip())
    except ValueError:
        return None
    return pid if _alive(pid) else None


def _spawn(name: str, cmd: list[str], env: dict[str, str]) -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    # The child keeps its own copy of the log file descriptor.
    with open(LOG_DIR / f"{name}.log", "ab") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
    _pidfile(name).write_text(str(proc.pid))
    return proc.pid


def _wait_port(name: str, port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if _port_open(port):
            return
        pid = _read_pid(name)
        if pid is None:
            tail = (LOG_DIR / f"{name}.log").read_text()[-3000:]
            fail(f"{name} exited during start-up; last log lines:\n{tail}")
        time.sleep(0.2)
    fail(f"{name} did not open port {port} within {timeout:.0f}s; see {LOG_DIR / (name + '.log')}")


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings())
    return env


def _venv_python() -> str:
    venv_py = REPO / ".venv" / "bin" / "python"
    return str(venv_py) if venv_py.exists() else sys.executable


def cmd_services_up(args: list[str]) -> None:
    env = _child_env()
    wanted = args or list(SERVICES)
    for name in wanted:
        module, port_key = SERVICES[name]
        port = int(env[port_key])
        if _read_pid(name):
            log(f"{name} already running on :{port}")
            continue
        if _port_open(port):
            fail(f"port {port} for {name} is taken by another process; set {port_key} to a free port.")
        _spawn(name, [_venv_python(), "-m", module, "--port", str(port)], env)
        _wait_port(name, port)
        log(f"{name} listening on 127.0.0.1:{port}")


def _stop(name: str) -> None:
    pid = _read_pid(name)
    if pid:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        log(f"{name} stopped")
    _pidfile(name).unlink(missing_ok=True)


def cmd_services_down(args: list[str]) -> None:
    for name in args or list(SERVICES):
        _stop(name)


def cmd_ui_up(_: list[str]) -> None:
    env = _child_env()
    airflow = str(REPO / ".venv" / "bin" / "airflow")
    port = int(env["AIRFLOW_UI_PORT"])
    for comp in AIRFLOW_COMPONENTS:
        name = f"airflow-{comp}"
        if _read_pid(name):
            log(f"{name} already running")
            continue
        _spawn(name, [airflow, comp], env)
    _wait_port("airflow-api-server", port, timeout=180)
    log(f"Airflow UI: http://localhost:{port}  (logs in {LOG_DIR})")


def cmd_ui_down(_: list[str]) -> None:
    for comp in AIRFLOW_COMPONENTS:
        _stop(f"airflow-{comp}")


# --------------------------------------------------------------------------- Redis (make celery)
def redis_command(binary: str, port: int, workdir: Path) -> list[str]:
    """A loopback redis-server without persistence (the broker's queue lives as long as a run);
    also the throw-away one of tests/e2e/test_celery.py."""
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]  # fmt: skip


def cmd_redis_up(_: list[str]) -> None:
    """redis-server on 127.0.0.1:REDIS_PORT, the Celery broker and result backend of `make celery`."""
    env = _child_env()
    port = int(env["REDIS_PORT"])
    binary = env.get("REDIS_SERVER_BIN") or shutil.which("redis-server")
    if not binary:
        fail("redis-server not found: `make redis` installs Debian's redis-server (or set REDIS_SERVER_BIN).")
    if _read_pid("redis"):
        log(f"redis already running on :{port}")
        return
    if _port_open(port):
        fail(f"port {port} for redis is taken by another process; set REDIS_PORT to a free port.")
    workdir = LOCAL / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    _spawn("redis", redis_command(binary, port, workdir), env)
    _wait_port("redis", port, timeout=30)
    log(f"redis listening on 127.0.0.1:{port}")


def cmd_redis_down(_: list[str]) -> None:
    _stop("redis")


# --------------------------------------------------------------------------- Superset (make bi)
BI_VENV = REPO / ".venv-bi"


def _bi_name(env: dict[str, str]) -> str:
    """The process name (pid and log file): `superset` for the checkout's own instance, one per
    port for another (the browser tests start theirs on a throw-away home and port)."""
    default_home = (LOCAL / "superset").resolve()
    return "superset" if Path(env["SUPERSET_HOME"]).resolve() == default_home else f"superset-{env['BI_PORT']}"


def _superset_cli(env: dict[str, str], args: list[str], logf: Path, timeout: float = 600) -> None:
    """One `superset` command (metadata migration, admin user, roles), output kept in logf."""
    with open(logf, "a") as out:
        shown = ["***" if previous == "--password" else arg for previous, arg in zip(["", *args], args, strict=False)]
        out.write(f"\n$ superset {' '.join(shown)}\n")
        out.flush()
        try:
            res = subprocess.run(
                [str(BI_VENV / "bin" / "superset"), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            fail(f"`superset {args[0]}` did not finish within {timeout:.0f}s; see {logf}")
    if res.returncode != 0:
        fail(f"`superset {' '.join(args[:2])}` failed; last lines of {logf}:\n{logf.read_text()[-3000:]}")


def cmd_bi_up(_: list[str]) -> None:
    """Start Superset on 127.0.0.1:BI_PORT from .venv-bi: migrate its metadata and create the
    admin (first start, or a new Superset version), reset the admin password when
    BI_ADMIN_PASSWORD changed, then gunicorn; returns once /health answers."""
    env = _child_env()
    env["FLASK_APP"] = "superset"
    if not (BI_VENV / "bin" / "superset").exists():
        fail(f"{BI_VENV} is missing: run `make bi` (it installs Superset into .venv-bi first).")
    name, port = _bi_name(env), int(env["BI_PORT"])
    home = Path(env["SUPERSET_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if _read_pid(name):
        log(f"Superset already running: {env['BI_URL']}")
        return
    if _port_open(port):
        fail(f"port {port} for Superset is taken by another process; set BI_PORT to a free port.")
    setup_log = home / "setup.log"
    version = subprocess.run(
        [str(BI_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('apache-superset'))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    admin, password = env["BI_ADMIN_USER"], env["BI_ADMIN_PASSWORD"]
    stamp = home / "initialised"
    login_hash = hashlib.sha256((admin + password).encode()).hexdigest()[:16]
    # "<superset version> <hash of the admin login>" once set up; empty on a fresh home
    done = stamp.read_text().split() if stamp.exists() else []
    if not done or done[0] != version:
        log(f"Superset {version}: migrating its metadata database and creating roles (about a minute the first time)")
        _superset_cli(env, ["db", "upgrade"], setup_log)
        _superset_cli(env, ["init"], setup_log)
    if not done:
        _superset_cli(
            env,
            ["fab", "create-admin", "--username", admin, "--firstname", "Admin", "--lastname", "Local",
             "--email", f"{admin}@service-client.local", "--password", password],
            setup_log,
        )  # fmt: skip
    elif done[-1] != login_hash:  # BI_ADMIN_PASSWORD changed since the admin was created
        _superset_cli(env, ["fab", "reset-password", "--username", admin, "--password", password], setup_log)
    stamp.write_text(f"{version} {login_hash}\n")
    gunicorn = [
        str(BI_VENV / "bin" / "gunicorn"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--threads", "4", "--worker-class", "gthread",
        "--timeout", "120", "--graceful-timeout", "10",
        "superset.app:create_app()",
    ]  # fmt: skip
    _spawn(name, gunicorn, env)
    _wait_port(name, port, timeout=180)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if _read_pid(name) is None:
            fail(f"Superset exited during start-up; last log lines:\n{(LOG_DIR / (name + '.log')).read_text()[-3000:]}")
        time.sleep(0.5)
    else:
        fail(f"Superset did not answer /health within 120 s; see {LOG_DIR / (name + '.log')}")
    log(f"Superset: {env['BI_URL']}  (login {admin}; logs in {LOG_DIR / (name + '.log')})")


def cmd_bi_down(_: list[str]) -> None:
    _stop(_bi_name(_child_env()))


def cmd_down(_: list[str]) -> None:
    cmd_bi_down([])
    cmd_ui_down([])
    cmd_redis_down([])
    cmd_services_down([])
    cmd_pg_down([])


def cmd_clean(_: list[str]) -> None:
    """Stop everything, then remove the cluster folder when it lives outside .local."""
    cmd_down([])
    if not PG_DIR.is_relative_to(LOCAL) and PG_DIR.exists():
        shutil.rmtree(PG_DIR)
        log(f"removed {PG_DIR}")


def cmd_status(_: list[str]) -> None:
    s = settings()
    print(f"postgres      {'running' if pg_running() else 'stopped'}  127.0.0.1:{s['LOCAL_PG_PORT']}")
    for name, (_, port_key) in SERVICES.items():
        print(f"{name:<13} {'running' if _read_pid(name) else 'stopped'}  127.0.0.1:{s[port_key]}")
    for comp in AIRFLOW_COMPONENTS:
        print(f"airflow-{comp:<14} {'running' if _read_pid('airflow-' + comp) else 'stopped'}")
    print(f"{'superset':<13} {'running' if _read_pid('superset') else 'stopped'}  {s['BI_URL']}")
    print(f"{'redis':<13} {'running' if _read_pid('redis') else 'stopped'}  127.0.0.1:{s['REDIS_PORT']}")


COMMANDS = {
    "env": cmd_env,
    "pg-up": cmd_pg_up,
    "pg-down": cmd_pg_down,
    "services-up": cmd_services_up,
    "services-down": cmd_services_down,
    "ui-up": cmd_ui_up,
    "ui-down": cmd_ui_down,
    "redis-up": cmd_redis_up,
    "redis-down": cmd_redis_down,
    "bi-up": cmd_bi_up,
    "bi-down": cmd_bi_down,
    "down": cmd_down,
    "clean": cmd_clean,
    "status": cmd_status,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])
