"""The Airflow UI as a data engineer opens it, in headless Chromium: the UI started the way
`make ui` starts it (scripts/stack.py ui-up: api-server, scheduler, dag-processor, triggerer;
started here when not running, and stopped again if this test started it), then the DAG list
with no import error, a DAG's graph and its docs, and the asset graph from the sources to the
alerts and reports. Airflow's REST API only says what to expect; what is asserted is what the
page shows. Screenshots go to build/screenshots/airflow_*.png.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import REPO, SCREENSHOTS
from tests.conftest import AIRFLOW_METADATA

pytestmark = [pytest.mark.integration, pytest.mark.browser, AIRFLOW_METADATA]

# The chain the asset graph must read, left to right (plugins/cs_analytics/orchestration.py).
CHAIN = ["ingest_crm", "raw_crm", "transform", "marts", "ml_scoring", "ml_scores", "alerts"]
RAW = ["raw_crm", "raw_cti", "raw_erp", "raw_app", "raw_portal_analytics", "raw_mailbox", "raw_weather"]
GRAPH_DAG = "transform"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stack(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "stack.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ours_running() -> bool:
    """This checkout's api-server (its pid file under .local/run names a live process)."""
    return re.search(r"^airflow-api-server\s+running", _stack("status").stdout, re.M) is not None


def _api(base: str, path: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/v2/{path}", timeout=30) as resp:
        return json.load(resp)


@pytest.fixture(scope="module")
def airflow_ui() -> Iterator[str]:
    port = int(os.environ.get("AIRFLOW_UI_PORT", "8080"))
    base = f"http://127.0.0.1:{port}"
    started = False
    if not _ours_running():
        if _port_open(port):
            pytest.fail(f"port {port} is taken by another program: set AIRFLOW_UI_PORT in .env to a free port")
        up = _stack("ui-up")
        if up.returncode != 0:
            pytest.fail(
                f"`scripts/stack.py ui-up` failed (is the metadata DB migrated? make test does it):\n{up.stderr[-3000:]}"
            )
        started = True
    try:
        _wait_for_current_dags(base)
        yield base
    finally:
        if started:
            _stack("ui-down")


def _wait_for_current_dags(base: str, timeout: float = 240) -> None:
    """Until the dag-processor has parsed every file of dags/ as it is now: the 17 DAGs active,
    and the transform DAG's docs those of the file on disk (a UI left running re-parses later)."""
    files = sorted(p.stem for p in (REPO / "dags").glob("*.py"))
    head = (REPO / "dags" / f"{GRAPH_DAG}.py").read_text().split('"""')[1].strip().splitlines()[-1]
    deadline, seen = time.time() + timeout, "nothing"
    while time.time() < deadline:
        try:
            listed = {d["dag_id"] for d in _api(base, "dags?limit=100")["dags"]}
            doc = _api(base, f"dags/{GRAPH_DAG}/details").get("doc_md") or ""
            if set(files) <= listed and head in doc:
                return
            seen = f"{len(set(files) & listed)}/{len(files)} DAGs, current docs: {head in doc}"
        except OSError as exc:
            seen = repr(exc)
        time.sleep(2)
    pytest.fail(f"the dag-processor did not serialize the current DAGs within {timeout:.0f}s ({seen})")


@pytest.fixture(scope="module")
def page(browser, airflow_ui):
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def _shot(page, name: str, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"airflow_{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def _publish(path: Path) -> None:
    """The README shows these two: kept in docs/screenshots/ (committed)."""
    target = REPO / "docs" / "screenshots" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes())


def test_dag_list_shows_every_dag_and_no_import_error(page, airflow_ui):
    expected = sorted(p.stem for p in (REPO / "dags").glob("*.py"))
    assert _api(airflow_ui, "importErrors")["total_entries"] == 0, "the API reports import errors"

    page.goto(f"{airflow_ui}/")
    page.get_by_text("Dag Processor").wait_for()
    assert page.get_by_text(re.compile("Dag Import Errors?")).count() == 0, "the home page shows import errors"

    page.goto(f"{airflow_ui}/dags")
    page.get_by_role("button", name="Show table view").click()
    for dag_id in expected:
        page.get_by_role("link", name=dag_id, exact=True).first.wait_for()
    shown = {a.inner_text().strip() for a in page.locator("a[href^='/dags/']").all()}
    assert set(expected) <= shown, f"not listed: {sorted(set(expected) - shown)}"
    assert page.get_by_text(re.compile("Dag Import Errors?")).count() == 0, "the DAG list shows import errors"
    page.set_viewport_size({"width": 1600, "height": 1300})  # the table scrolls inside: all 17 rows in view
    _publish(_shot(page, "dags"))
    page.set_viewport_size({"width": 1600, "height": 1000})


def test_dag_graph_renders_its_stages(page, airflow_ui):
    tasks = [t["task_id"] for t in _api(airflow_ui, f"dags/{GRAPH_DAG}/tasks")["tasks"]]
    top = {t.split(".")[0] for t in tasks}  # task groups collapsed: the stages
    assert {"dbt", "quality_gate_sources", "publish_marts"} <= top

    page.goto(f"{airflow_ui}/dags/{GRAPH_DAG}")
    page.get_by_role("button", name=re.compile("Show Graph")).click()
    page.locator(".react-flow__node").first.wait_for()
    page.wait_for_function("n => document.querySelectorAll('.react-flow__node').length >= n", arg=len(top))
    labels = {n.inner_text().split("\n")[0].strip() for n in page.locator(".react-flow__node").all()}
    assert top <= labels, f"graph lacks {sorted(top - labels)}; shows {sorted(labels)}"
    assert page.locator(".react-flow__edge").count() >= len(top) - 1, "the graph draws no dependencies"
    _shot(page, "graph")


def test_dag_docs_render_the_runbook(page, airflow_ui):
    page.goto(f"{airflow_ui}/dags/{GRAPH_DAG}")
    page.get_by_role("button", name="Dag Docs").click()
    dialog = page.get_by_role("dialog").filter(has_text="Dag Documentation")
    dialog.wait_for()
    text = dialog.inner_text()
    for section in ("When", "Inputs", "Outputs", "Owner", "Re-run one day"):
        # rendered Markdown: the section names are bold elements, not **asterisks**
        assert dialog.locator("strong", has_text=section).count() >= 1, f"docs lack a rendered {section!r}"
    assert "**" not in text, "doc_md shown as raw Markdown"
    assert f"airflow dags test {GRAPH_DAG}" in text
    _shot(page, "docs")


def test_asset_graph_reads_sources_raw_marts_ml_alerts_and_reports(page, airflow_ui):
    assets = {a["name"]: a for a in _api(airflow_ui, "assets?limit=100")["assets"]}
    marts = assets["marts"]
    readers = {t["dag_id"] for t in marts["consuming_tasks"]}
    assert {"report_daily", "report_weekly", "report_monthly", "report_quarterly"} <= readers

    page.goto(f"{airflow_ui}/assets")
    for name in [*RAW, "marts", "ml_scores", "source_crm"]:
        page.get_by_role("link", name=name, exact=True).first.wait_for()
    _shot(page, "assets", full_page=True)

    page.get_by_role("link", name="marts", exact=True).first.click()
    page.wait_for_url(f"**/assets/{marts['id']}")
    page.wait_for_function("n => document.querySelectorAll('.react-flow__node').length >= n", arg=len(CHAIN) + 12)
    nodes = {n.inner_text().strip() for n in page.locator(".react-flow__node").all()}
    missing = [name for name in [*CHAIN, *RAW] if name not in nodes]
    assert not missing, f"the asset graph lacks {missing}; shows {sorted(nodes)}"
    # left to right: each link of the chain is drawn right of the one before
    xs = [page.locator(".react-flow__node", has_text=re.compile(f"^{n}$")).first.bounding_box()["x"] for n in CHAIN]
    assert all(a < b for a, b in zip(xs, xs[1:], strict=False)), f"the chain is not drawn left to right: {xs}"
    _shot(page, "asset_chain")

    # the asset's page lists the tasks that read it: the reports, run at fixed times, are there
    page.get_by_role("button", name=re.compile(r"^\d+ Tasks?$")).nth(1).click()
    for dag_id in ("report_daily", "report_weekly", "report_monthly", "report_quarterly"):
        page.get_by_text(re.compile(rf"\b{dag_id}\.send_report\b")).first.wait_for()
    _publish(_shot(page, "asset_graph"))
