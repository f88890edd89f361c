"""The four dashboards in a real Superset, opened in headless Chromium as their readers would:
every chart loads without an error, the headline numbers are the marts' numbers (queried
here from the KPI marts, not from the presentation marts the tiles read), each technician
sees only their own rows, and personal data stays with the roles that may see it. A
screenshot of each dashboard goes to build/screenshots/.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.browser.conftest import REPO, SCREENSHOTS, SupersetInstance
from tests.browser.pages import Opened, fr_number, login, open_dashboard

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DASHBOARDS = {
    path.stem: yaml.safe_load(path.read_text(encoding="utf-8"))
    for path in sorted((REPO / "bi" / "dashboards").glob("*.yaml"))
}
PHONE = re.compile(r"\+\d{8,}")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


def assert_no_chart_error(opened: Opened, slug: str) -> None:
    page = opened.page
    errors = page.locator('[data-test="chart-grid-component"] [role="alert"], [data-test="error-tooltip"]')
    assert errors.count() == 0, f"{slug}: a chart shows an error: {errors.first.inner_text()[:300]}"
    for response in opened.chart_responses:
        assert response["status"] == 200, f"{slug}: chart data answered {response['status']}: {response['body']}"
        for result in response["body"].get("result", []):
            assert not result.get("error"), f"{slug}: chart query failed: {result['error']}"


def card(page, code: str) -> float:
    return fr_number(page.locator(f'[data-kpi="{code}"] .kpi-value').first.inner_text())


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # ECharts draws a line left to right over about a second: a screenshot taken as soon as the
    # data is in shows the series cut short (the forecast missing altogether)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(path), full_page=True)
    return path


def n_charts(slug: str) -> int:
    return len(DASHBOARDS[slug].get("charts") or {})


@pytest.fixture(scope="module")
def admin_page(browser, superset: SupersetInstance):
    page = login(browser, superset.url, superset.admin_user, superset.admin_password)
    yield page
    page.context.close()


# --------------------------------------------------------------------------- as the admin
def test_direction_dashboard_shows_the_monthly_kpis(admin_page, superset: SupersetInstance):
    opened = open_dashboard(admin_page, superset.url, "direction", n_charts("direction"))
    assert_no_chart_error(opened, "direction")
    month = superset.world.query(
        "select avg_calls_per_day, nps, customer_service_cost_eur, month_start from marts.mart_kpi_monthly "
        "where is_complete_month order by month_start desc limit 1"
    )[0]
    ytd = superset.world.query(
        "select sum(field_quote_revenue_eur) from marts.mart_kpi_daily "
        "where kpi_date >= date_trunc('year', (select max(kpi_date) from marts.mart_kpi_daily))"
    )[0][0]
    page = opened.page
    assert card(page, "calls_per_day") == round(float(month[0]))
    assert card(page, "nps") == round(float(month[1]))
    assert card(page, "customer_service_cost") == round(float(month[2]) / 1000, 1)
    assert card(page, "field_quote_revenue_ytd") == round(float(ytd) / 1000, 1)
    top = superset.world.query(
        "select categories.label_fr from marts.fct_calls as calls "
        "join marts.dim_ticket_category as categories using (category_code) "
        "where calls.is_inbound and date_trunc('month', calls.call_date) = %s "
        "group by categories.label_fr order by count(*) desc limit 1",
        (month[3],),
    )[0][0]
    assert page.get_by_text(top, exact=True).count() >= 1, f"top motive {top!r} not shown"
    assert "surcharge au-delà de 70" in page.inner_text("body")  # targets are printed
    screenshot(page, "direction")


def test_operations_dashboard_shows_todays_alerts_and_the_week(admin_page, superset: SupersetInstance):
    opened = open_dashboard(admin_page, superset.url, "operations", n_charts("operations"))
    assert_no_chart_error(opened, "operations")
    day = superset.world.query(
        "select tickets_open_over_24h, quotes_awaiting_decision, technicians_without_time_entries, kpi_date "
        "from marts.mart_kpi_daily order by kpi_date desc limit 1"
    )[0]
    week = superset.world.query(
        "select tickets_created, tickets_closed, tickets_open_at_week_end from marts.mart_kpi_weekly "
        "where week_start = date_trunc('week', %s::date)",
        (day[3],),
    )[0]
    page = opened.page
    assert card(page, "tickets_open_over_24h") == day[0]
    assert card(page, "quotes_awaiting_decision") == day[1]
    assert card(page, "technicians_without_time_entries") == day[2]
    assert (card(page, "tickets_created"), card(page, "tickets_closed"), card(page, "tickets_open")) == tuple(week)
    # the mail tile is the shared mailbox's day (mart_kpi_mailbox_daily), not the CRM's tickets
    mails = superset.world.query(
        "select emails_received, emails_handled, emails_waiting from marts.mart_kpi_mailbox_daily where kpi_date = %s",
        (day[3],),
    )[0]
    assert (card(page, "emails_received"), card(page, "emails_answered"), card(page, "emails_waiting")) == mails
    body = page.inner_text("body")
    assert "source à venir" not in body and "cible < 4 h" in body and "cible > 70 %" in body
    # the planning carries the route plan's travel times (ml.technician_routes of the planning day)
    assert "min de trajet" in body
    screenshot(page, "operations")


def test_technician_dashboard_filters_to_one_technician(admin_page, superset: SupersetInstance):
    opened = open_dashboard(admin_page, superset.url, "technician", n_charts("technician"))
    assert_no_chart_error(opened, "technician")
    page = opened.page
    # every card of a tile is one technician's: the filter picked the first one by default
    assert page.locator('[data-kpi="visits"]').count() == 1
    names = [r[0] for r in superset.world.query("select full_name from marts.dim_technician where is_active")]
    chosen = [n for n in names if page.get_by_text(n, exact=True).count() > 0]
    assert len(chosen) == 1, f"expected one technician selected in the filter, found {chosen}"
    visits = superset.world.query(
        "select coalesce(sum(days.interventions_done), 0) from marts.mart_kpi_technician_daily as days "
        "join marts.dim_technician using (technician_id) where dim_technician.full_name = %s "
        "and days.kpi_date between date_trunc('week', (select max(kpi_date) from marts.mart_kpi_daily))::date "
        "and (select max(kpi_date) from marts.mart_kpi_daily)",
        (chosen[0],),
    )[0][0]
    assert card(page, "visits") == visits
    screenshot(page, "technician")


def chart_rows(opened: Opened, column: str) -> list[dict]:
    """The rows of the dashboard's chart data that carry `column`."""
    return [
        row for response in opened.chart_responses for result in response["body"].get("result", [])
        for row in result.get("data", []) if row.get(column) is not None
    ]  # fmt: skip


def test_models_dashboard_shows_every_models_output(admin_page, superset: SupersetInstance):
    opened = open_dashboard(admin_page, superset.url, "models", n_charts("models"))
    assert_no_chart_error(opened, "models")
    world = superset.world
    # the forecast drawn is the latest one of ml.call_volume_forecast, through the ml_outputs views
    expected = world.query(
        "select round(yhat::numeric, 1) from ml.call_volume_forecast "
        "where forecast_date = (select max(forecast_date) from ml.call_volume_forecast) and horizon_days = 1"
    )[0][0]
    drawn = chart_rows(opened, "forecast_calls")
    assert len(drawn) == 30
    assert min(drawn, key=lambda row: row["day"])["forecast_calls"] == float(expected)
    # customers at risk: the latest run's 25 highest scores, those in the retention campaign with its action
    riskiest = world.query(
        "select customer_id, score from ml.churn_scores "
        "where as_of_date = (select max(as_of_date) from ml.churn_scores) order by score desc, customer_id limit 25"
    )
    in_campaign = world.query(
        "select count(*) from ml.retention_campaign where as_of_date = (select max(as_of_date) from ml.churn_scores)"
    )[0][0]
    shown = chart_rows(opened, "churn_score")
    assert sorted(row["churn_score"] for row in shown) == sorted(score for _, score in riskiest)
    assert len([row for row in shown if row["campaign_action"] != "aucune (hors campagne)"]) == min(in_campaign, 25)
    top_name = world.query(
        "select customer_name from marts.dim_customer where is_current and customer_id = %s", (riskiest[0][0],)
    )[0][0]
    assert top_name in [row["customer_name"] for row in shown]
    # segments: every customer scored is in one bar, the six segments are listed with their actions
    segmented = world.query(
        "select segment, count(*) from ml.customer_segments "
        "where as_of_date = (select max(as_of_date) from ml.customer_segments) group by segment"
    )
    bars = {row["segment_label"]: row["customers"] for row in chart_rows(opened, "customers") if "segment_label" in row}
    assert sum(bars.values()) == sum(n for _, n in segmented) and len([n for n in bars.values() if n]) == len(segmented)
    body = opened.page.inner_text("body")
    assert "Programme fidélité premium" in body  # the VIP segment's action, from the seed
    # anomalies of the last 30 days, with their French explanation
    recent = world.query(
        "select explanation from ml.anomalies where anomaly_date > "
        "(select max(last_detected_on) from ml.anomalies) - 30 order by anomaly_date desc, kind limit 1"
    )
    if recent:
        assert recent[0][0][:40] in body
    assert "source à venir" not in body
    screenshot(opened.page, "models")


# --------------------------------------------------------------------------- as the readers
def test_a_technician_sees_only_their_own_rows(browser, superset: SupersetInstance):
    technician_id, username, name = superset.world.query(
        "select technician_id, split_part(email, '@', 1), full_name from marts.dim_technician "
        "where is_active order by technician_id desc limit 1"
    )[0]
    others = [r[0] for r in superset.world.query(
        "select full_name from marts.dim_technician where is_active and technician_id <> %s", (technician_id,)
    )]  # fmt: skip
    page = login(browser, superset.url, username, superset.users_password)
    try:
        opened = open_dashboard(page, superset.url, "technician", n_charts("technician"))
        assert_no_chart_error(opened, "technician")
        body = page.inner_text("body")
        assert name in body
        assert not [other for other in others if other in body], "another technician's name is on the page"
        appointments = superset.world.query(
            "select count(*) from marts.fct_interventions where technician_id = %s and scheduled_date = "
            "(select min(scheduled_date) from marts.fct_interventions where scheduled_date > "
            "(select max(kpi_date) from marts.mart_kpi_daily))",
            (technician_id,),
        )[0][0]
        rows = page.locator('[data-test-chart-name^="Mes rendez-vous"] tbody tr')
        assert rows.count() == appointments
        if appointments:  # the planning day was planned (ml.technician_routes): each visit says where it stands
            assert "pas encore calculé" not in body and ("min de trajet" in body or "confiée à un collègue" in body)
        screenshot(page, "technician-login")
        # and the operations dashboard is not theirs
        listed = page.request.get(f"{superset.url}/api/v1/dashboard/").json()["result"]
        assert {d["slug"] for d in listed} == {"technician"}
    finally:
        page.context.close()


def test_personal_data_stays_with_the_roles_that_may_see_it(browser, admin_page, superset: SupersetInstance):
    callbacks = admin_page.request.get(
        f"{superset.url}/api/v1/dataset/?q=(filters:!((col:table_name,opr:eq,value:pres_quotes_to_follow_up)))"
    ).json()["result"][0]["id"]
    page = login(browser, superset.url, "direction", superset.users_password)
    try:
        listed = {d["slug"] for d in page.request.get(f"{superset.url}/api/v1/dashboard/").json()["result"]}
        assert listed == {"direction", "models"}
        # what the direction's dashboards load carries no phone number and no e-mail address
        for slug in sorted(listed):
            opened = open_dashboard(page, superset.url, slug, n_charts(slug))
            assert_no_chart_error(opened, slug)
            for response in opened.chart_responses:
                text = str(response["body"])
                assert not PHONE.search(text) and not EMAIL.search(text), f"{slug}: personal data in a chart"
        # and the list of customers to call back (names, phones) is refused to the direction
        token = page.request.get(f"{superset.url}/api/v1/security/csrf_token/").json()["result"]
        refused = page.request.post(
            f"{superset.url}/api/v1/chart/data",
            headers={"X-CSRFToken": token, "Referer": superset.url},
            data={
                "datasource": {"id": callbacks, "type": "table"},
                "queries": [{"columns": ["customer_name", "customer_phone"], "row_limit": 5}],
                "result_format": "json",
                "result_type": "full",
            },
        )
        assert refused.status == 403, f"direction read the follow-up list: HTTP {refused.status} {refused.text()[:300]}"
    finally:
        page.context.close()


# --------------------------------------------------------------------------- bad input
def test_a_spec_naming_a_missing_column_fails_provisioning_with_file_and_name(superset: SupersetInstance, tmp_path):
    specs = tmp_path / "bi"
    shutil.copytree(REPO / "bi", specs, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = specs / "dashboards" / "operations.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["charts"]["planning"]["columns"].append("technician_nickname")
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    proc = superset.provision("--check", "--spec-dir", str(specs), check=False)
    assert proc.returncode == 1
    assert (
        "operations.yaml: chart 'planning': column 'technician_nickname' is not in marts.pres_technician_appointments"
        in proc.stderr
    )


def test_a_dataset_missing_from_the_warehouse_fails_provisioning(superset: SupersetInstance, tmp_path):
    specs = tmp_path / "bi"
    shutil.copytree(REPO / "bi", specs, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = specs / "datasets.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["datasets"]["pres_churn_scores"] = {"description": "not built yet"}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    proc = superset.provision("--check", "--spec-dir", str(specs), check=False)
    assert proc.returncode == 1
    assert "datasets.yaml: dataset 'pres_churn_scores': no table marts.pres_churn_scores" in proc.stderr


def test_superset_unreachable_fails_fast_with_a_clear_error(superset: SupersetInstance):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    env = {**superset.env, "BI_URL": f"http://127.0.0.1:{closed_port}"}
    proc = subprocess.run(
        [sys.executable, "-m", "cs_analytics.bi.provision", "--wait-seconds", "3"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"Superset is not reachable at http://127.0.0.1:{closed_port}" in proc.stderr


def test_bi_up_on_a_taken_port_says_so(superset: SupersetInstance, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {**superset.env, "BI_PORT": str(port), "SUPERSET_HOME": str(tmp_path / "home")}
        proc = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "stack.py"), "bi-up"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"port {port} for Superset is taken" in proc.stderr


def test_reprovisioning_is_idempotent(superset: SupersetInstance, admin_page):
    before = admin_page.request.get(f"{superset.url}/api/v1/chart/?q=(page_size:100)").json()["count"]
    superset.provision()
    after = admin_page.request.get(f"{superset.url}/api/v1/chart/?q=(page_size:100)").json()["count"]
    assert before == after == sum(n_charts(slug) for slug in DASHBOARDS)
