"""The rules file is checked when it is loaded: a bad rule is refused naming the file, the
line and what is wrong; templates are strict; recipients come from the environment, checked."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cs_analytics.alerts.rules import RuleFileError, load_rules, parse_duration
from cs_analytics.alerts.templates import Template, TemplateDataError
from cs_analytics.config import NotifySettings

CATALOG = {
    "marts.mart_kpi_daily": ("kpi_date", "calls_per_day", "calls_per_day_alert_threshold", "is_call_overload"),
    "marts.dim_customer_contact": ("customer_id", "customer_name", "email", "crm_contact_id", "owner_id"),
    "ml.churn_scores": ("as_of_date", "customer_id", "score", "band", "reasons"),
}
GOOD_RULE = """\
  - name: calls_overload
    severity: important
    audience: [service_client]
    channels: [slack, email]
    source: marts.mart_kpi_daily
    period: {column: kpi_date, every: day}
    when: [is_call_overload]
    title: "Surcharge le {{ kpi_date | date }}"
    why: "{{ calls_per_day }} appels, seuil {{ calls_per_day_alert_threshold }}"
"""


def write(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text("version: 1\nlinks: {operations: /ops/}\nrules:\n" + rules, encoding="utf-8")
    return path


def refused(tmp_path: Path, rules: str) -> str:
    path = write(tmp_path, rules)
    with pytest.raises(RuleFileError) as info:
        load_rules(path, catalog=CATALOG)
    return str(info.value)


def test_the_projects_rules_file_loads_and_covers_the_specification():
    rules = load_rules()
    names = {r.name for r in rules.rules}
    assert {
        "calls_overload", "first_reply_over_target", "first_contact_resolution_low", "tickets_waiting_over_24h",
        "nps_below_target", "satisfaction_below_target", "survey_response_rate_low", "lost_customers_high",
        "field_quote_revenue_below_target", "vip_dissatisfied", "unusual_call_peak", "quote_follow_ups",
        "technicians_without_clock_in", "churn_high", "retention_campaign", "forecast_peak", "anomalies_detected",
        "model_drift", "data_quality_warnings", "quality_gate", "pipeline_failure", "marts_deadline_missed",
    } <= names  # fmt: skip
    assert {r.severity for r in rules.rules} == {"critical", "important", "info"}
    assert rules.by_name("vip_dissatisfied").severity == "critical"
    assert {r.name for r in rules.scheduled("intraday")} == {
        "vip_dissatisfied", "tickets_waiting_over_24h", "ticket_unanswered_24h"
    }  # fmt: skip
    churn = rules.by_name("churn_high")
    assert churn.crm_task and churn.customer_email and churn.customer_email.opted_out == "is_email_opted_out"
    assert rules.by_name("retention_campaign").crm_list.list_name == "Campagne rétention"


def test_a_good_rule_becomes_a_query_reading_the_marts_flag(tmp_path):
    rule = load_rules(write(tmp_path, GOOD_RULE), catalog=CATALOG).by_name("calls_overload")
    query, params = rule.query(date(2026, 3, 10), datetime(2026, 3, 10, 23, tzinfo=UTC))
    text = query.as_string(None)
    assert '"src"."kpi_date" = %(period_start)s and "src"."is_call_overload" is true' in text
    assert params == {"period_start": date(2026, 3, 10)}
    assert sorted(rule.columns) == ["calls_per_day", "calls_per_day_alert_threshold", "is_call_overload", "kpi_date"]


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("    severity: important", "    severity: urgent"), 5, "unknown severity 'urgent'"),
        (("channels: [slack, email]", "channels: [slack, sms]"), 7, "unknown channel 'sms'"),
        (("audience: [service_client]", "audience: [claire]"), 6, "unknown audience 'claire'"),
        (("when: [is_call_overload]", "when: [is_call_overlaod]"), 10, "unknown column 'is_call_overlaod'"),
        (("{{ calls_per_day }} appels", "{{ calls_today }} appels"), 12, "unknown template variable 'calls_today'"),
        (("when: [is_call_overload]", "when: [calls_per_day > 70]"), 10, "compares with the number 70"),
        (
            ("source: marts.mart_kpi_daily", "source: marts.mart_kpi_dayly"),
            8,
            "unknown relation 'marts.mart_kpi_dayly'",
        ),
        (("    title:", "    titel: x\n    title:"), 11, "unknown key 'titel'"),
        (("period: {column: kpi_date, every: day}", "period: {column: kpi_date, every: year}"), 9, "period.every"),
        (("    title:", "    cooldown: soon\n    title:"), 11, "duration 'soon'"),
    ],
)
def test_a_bad_rule_is_refused_naming_file_line_and_name(tmp_path, change, line, message):
    error = refused(tmp_path, GOOD_RULE.replace(*change))
    assert error.startswith(f"{tmp_path / 'rules.yml'}:{line}: rule 'calls_overload': ")
    assert message in error


def test_file_level_errors_name_the_line(tmp_path):
    assert re.search(r"rules.yml:\d+: not valid YAML", refused(tmp_path, GOOD_RULE + "    why: [unclosed\n"))
    twice = refused(tmp_path, GOOD_RULE + GOOD_RULE)
    assert ":13: rule 'calls_overload': duplicate rule name (first at line 4)" in twice
    nothing = refused(tmp_path, GOOD_RULE.replace("    channels: [slack, email]\n", ""))
    assert "the rule sends nothing" in nothing
    task = GOOD_RULE + "    crm_task: {subject: s, body: b}\n"
    assert "crm_task needs an owner column" in refused(tmp_path, task)
    with pytest.raises(RuleFileError, match="no such rules file"):
        load_rules(tmp_path / "missing.yml", catalog=CATALOG)


def test_a_customer_email_template_variable_must_exist_in_the_data(tmp_path):
    rule = """\
  - name: churn_high
    severity: important
    source: ml.churn_scores
    join: [{relation: marts.dim_customer_contact, on: customer_id}]
    period: {column: as_of_date, every: day}
    when: [band = 'élevé']
    group: entity
    entity: customer_id
    customer_email: {to: email, contact: crm_contact_id, subject: "Bonjour", template: churn_retention_fr, offer: x}
"""
    error = refused(tmp_path, rule)
    assert "rule 'churn_high'" in error and "variable of template churn_retention_fr" in error


def test_templates_are_strict_a_missing_or_null_value_is_an_error_naming_it():
    t = Template("Bonjour {{ first_name }}, {{ score }}/100")
    assert t.variables == {"first_name", "score"}
    assert t.render({"first_name": "Léa", "score": 82}) == "Bonjour Léa, 82/100"
    with pytest.raises(TemplateDataError, match="variable 'first_name' is null in the data"):
        t.render({"first_name": None, "score": 82}, what="churn e-mail")
    with pytest.raises(TemplateDataError, match="variable 'score' is absent in the data"):
        t.render({"first_name": "Léa"})
    optional = Template("{% if technician is defined %}avec {{ technician }}{% else %}sans technicien{% endif %}")
    assert optional.render({"technician": None}) == "sans technicien"
    fr = Template("{{ v | pct }} · {{ e | eur }} · {{ h | hours }} · {{ d | day }}")
    assert fr.render({"v": 0.684, "e": 12345.6, "h": 3.25, "d": date(2026, 3, 10)}) == (
        "68,4 % · 12 346 € · 3,2 h · mardi 10/03"
    )


def test_recipients_from_the_environment_are_checked(monkeypatch):
    monkeypatch.setenv("ALERT_EMAIL_TO", " ")
    with pytest.raises(ValueError, match="ALERT_EMAIL_TO is empty"):
        NotifySettings.from_env()
    monkeypatch.setenv("ALERT_EMAIL_TO", "claire@exemple.fr, pas-une-adresse")
    with pytest.raises(ValueError, match="ALERT_EMAIL_TO: 'pas-une-adresse' is not an e-mail address"):
        NotifySettings.from_env()
    monkeypatch.setenv("ALERT_EMAIL_TO", "claire@exemple.fr,gaetan@exemple.fr")
    monkeypatch.setenv("SLACK_FIELD_CHANNEL", "Terrain Équipe")
    with pytest.raises(ValueError, match="SLACK_FIELD_CHANNEL='Terrain Équipe' is not a Slack channel"):
        NotifySettings.from_env()
    monkeypatch.setenv("SLACK_FIELD_CHANNEL", "#terrain")
    assert NotifySettings.from_env().audience("service_client").emails == ("claire@exemple.fr", "gaetan@exemple.fr")


def test_durations():
    assert [parse_duration(x).total_seconds() for x in ("30m", "4h", "2d", "1w", 0)] == [1800, 14400, 172800, 604800, 0]
