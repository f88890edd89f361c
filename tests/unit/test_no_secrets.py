"""No secret in the repository: every git-tracked text file is scanned for what looks like a
credential (private keys, cloud and chat tokens, passwords written into URLs or settings) and
the test names the file and line of each finding.

Secrets reach the project only through environment variables and Airflow connections
(`.env`, git-ignored; `.local/secrets.env`, generated). The loopback simulators' test tokens
(`xoxb-e2e`, `crm-test-token`, ...) are not in the shape of a real token and pass; a real one
pasted anywhere does not.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Shapes of real credentials, as their issuers document them.
TOKEN_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}\b", re.I),
    "Slack token": re.compile(r"\bxox[abposr]-\d{6,}-[0-9A-Za-z-]{10,}"),
    "Slack webhook": re.compile(r"hooks\.slack\.com/services/T[0-9A-Z]{6,}/B[0-9A-Z]{6,}/[0-9A-Za-z]{16,}"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "Stripe secret key": re.compile(r"\b[sr]k_live_[0-9A-Za-z]{20,}\b"),
}
# user:password@ in a URL (a connection string); KEY=value settings (env files, YAML); quoted
# values of password/secret/token keys in code and JSON connections.
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:([^@\s'\"/]+)@", re.I)
ENV_SETTING = re.compile(
    r"^\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN|API_KEY)[A-Z0-9_]*\s*[=:]\s*([^\s#'\"]+)"
)
QUOTED_SECRET = re.compile(
    r"""(?:password|passwd|secret|token|api_?key)\w*["']?\s*[:=]\s*(?:\w+\()?["']([^"']+)["']""", re.I
)
# Values that are documentation, not secrets: words, ellipses, <...>, masks, interpolations.
PLACEHOLDERS = {"password", "change-me", "changeme", "secret", "...", "pass", "user", "true", "false", "none"}
PLACEHOLDER = re.compile(r"^(?:<[^>]*>|x+|\*+|.*[${}].*|.*\.\.\.|[a-z]+://.*)$", re.I)
# Literals that look random but are not secrets, each with its reason.
ALLOWED = {
    "eyJ0eXAiOiJKV1Qi.sim.",  # simulators/graph_api.py: the fake access tokens' prefix ({"typ":"JWT" in base64)
}
# Files that carry no secret by construction: third-party pins and the vendored Compose schema.
SKIPPED = {"constraints.txt", "constraints-bi.txt", "constraints-dlt.txt", "tests/fixtures/compose_spec.json"}


def is_placeholder(value: str) -> bool:
    value = value.strip().rstrip(",;")
    return value in ALLOWED or value.lower() in PLACEHOLDERS or bool(PLACEHOLDER.match(value))


def findings_in(text: str) -> list[tuple[int, str]]:
    """(line number, what) for each thing in `text` that looks like a secret."""
    found: list[tuple[int, str]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for what, pattern in TOKEN_PATTERNS.items():
            if pattern.search(line):
                found.append((lineno, what))
        for m in URL_PASSWORD.finditer(line):
            if not is_placeholder(m.group(1)):
                found.append((lineno, f"password in a URL ({m.group(1)[:3]}...)"))
        m = ENV_SETTING.match(line)
        if m and not is_placeholder(m.group(1)) and not is_code(m.group(1)):
            found.append((lineno, f"secret value in a setting ({m.group(1)[:3]}...)"))
        for m in QUOTED_SECRET.finditer(line):
            if not is_placeholder(m.group(1)) and looks_random(m.group(1)):
                found.append((lineno, f"secret value in a setting ({m.group(1)[:3]}...)"))
    return found


def is_code(value: str) -> bool:
    """`TOKEN = os.environ[...]`, `SECRET = secrets.token_hex(16)`, `password=pw`: an expression, not a value."""
    return bool(re.match(r"^[A-Za-z_][\w.]*(?:[(\[].*)?,?$", value)) and not re.search(r"\d", value.split("(")[0])


def looks_random(value: str) -> bool:
    """A quoted literal: the loopback test tokens are words (`crm-test-token`, `xoxb-e2e`); a real
    password or key is longer and mixes letters and digits."""
    return len(value) >= 12 and bool(re.search(r"[A-Za-z]", value)) and bool(re.search(r"\d", value))


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = []
    for name in names.decode().split("\0"):
        path = ROOT / name
        if name and name not in SKIPPED and path.is_file():
            head = path.read_bytes()[:8192]
            if b"\0" not in head:  # text only
                files.append(path)
    return files


def test_no_tracked_file_holds_a_secret():
    files = tracked_text_files()
    assert len(files) > 100, "git ls-files listed too few files: is this a git checkout?"
    problems = []
    for path in files:
        for lineno, what in findings_in(path.read_text(errors="replace")):
            problems.append(f"{path.relative_to(ROOT)}:{lineno}: {what}")
    assert not problems, "things that look like secrets in tracked files:\n" + "\n".join(problems)


def test_the_scan_finds_each_kind_of_secret():
    """The scanner itself: real-looking values are found, documented placeholders are not. The
    samples are assembled at run time so this file holds none of them."""
    rnd = "q7Rz2Lk9Xw4Pn8Vb3Ty6Hs1Jd5Fg0Ma"
    leaked = {
        "-----BEGIN " + "RSA PRIVATE KEY-----": "private key",
        "aws_access_key_id = AKIA" + "Q3EXAMPLE7TESTKY": "AWS access key id",
        "token = 'xoxb-" + "123456789012-1234567890123-" + rnd[:24] + "'": "Slack token",
        "url: https://hooks.slack.com/services/" + "T0ABCDEFG/B0ABCDEFG/" + rnd[:24]: "Slack webhook",
        "GITHUB_TOKEN=ghp_" + rnd + "abcdef": "GitHub token",
        "WAREHOUSE_URL=postgresql://csa:" + "s3cr3tP4ss" + "@db.internal:5432/warehouse": "password in a URL",
        'AIRFLOW_CONN_SLACK_API={"conn_type": "slack", "password": "' + "hunter2hunter2" + '"}': "setting",
        "BI_READER_PASSWORD=" + "Tr0ub4dor3": "setting",
        'API_KEY = "' + rnd[:16] + '"': "setting",
    }
    for line, kind in leaked.items():
        found = findings_in(line)
        assert found and any(kind in what for _, what in found), (line, found)
    documented = [
        "WAREHOUSE_URL=postgresql://user:password@host:5432/warehouse",
        'AIRFLOW_CONN_SLACK_API={"conn_type": "slack", "password": "xoxb-..."}',
        '{"conn_type": "http", "host": "x", "password": "<private app token>"}',
        "BI_READER_PASSWORD=change-me         # password of the read-only role",
        "AIRFLOW_CONN_WAREHOUSE: postgres://${POSTGRES_USER:-csa}:${POSTGRES_PASSWORD}@postgres:5432/warehouse",
        'return f"postgresql+psycopg2://{BI_ROLE}:XXXXXXXXXX@{host}:5432/warehouse"',
        "POSTGRES_PASSWORD=                   # required by docker-compose.yaml",
        "SLACK_TOKEN = os.environ['SLACK_BOT_TOKEN']",
    ]
    for line in documented:
        assert findings_in(line) == [], line
