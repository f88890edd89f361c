"""The four recurring reports of the specification (3.1): when, for whom, on which mart, with
which KPIs and sections.

| report    | when (Europe/Paris)              | audience (config.AUDIENCE_SETTINGS) | mart               |
|-----------|----------------------------------|-------------------------------------|--------------------|
| daily     | every day 08:00                  | service_client (Claire)             | mart_kpi_daily     |
| weekly    | Monday 09:00                     | service_client + field (Gaëtan)     | mart_kpi_weekly    |
| monthly   | the 1st 09:00                    | direction                           | mart_kpi_monthly   |
| quarterly | 1 Jan/Apr/Jul/Oct 10:00          | codir                               | mart_kpi_quarterly |

A KPI names its mart column, its target column and the mart's "on target" flag: the report
reads them, it never holds a threshold (one rule, one place).
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_tasks.kpi_trends import KpiSpec


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    kind: str  # day | week | month | quarter (reports/periods.py)
    cron: str  # Europe/Paris
    audiences: tuple[str, ...]
    mart: str
    period_column: str
    complete_flag: str  # the mart's completeness flag for the period
    kpis: tuple[KpiSpec, ...]
    sections: tuple[str, ...]
    comparison: str  # how the previous period is called: J-7, S-1, M-1, T-1
    previous_label: str
    previous_step: int = 1  # the daily report compares with the same weekday a week before

    def previous(self, period):
        return period.shifted(-self.previous_step)

    @property
    def dag_id(self) -> str:
        return f"report_{self.name}"

    def group_key(self, period_key: str) -> str:
        return f"report:{self.name}:{period_key}"


K = KpiSpec
DAILY = ReportSpec(
    name="daily",
    title="KPIs quotidiens du service client",
    kind="day",
    cron="0 8 * * *",
    audiences=("service_client",),
    mart="marts.mart_kpi_daily",
    period_column="kpi_date",
    # the day's calls are final once its CDR file is loaded; its tickets stay provisional for
    # days (is_complete_day), which the report notes without waiting for them
    complete_flag="is_calls_loaded",
    kpis=(
        K("calls_per_day", "Appels reçus", "count", "calls_per_day_alert_threshold", "<=", "!is_call_overload", None),
        K("answered_calls", "Appels entrants décrochés", "count", better="higher"),
        K(
            "abandonment_rate",
            "Taux d'abandon",
            "pct",
            "abandonment_rate_alert_threshold",
            "<=",
            "!is_abandonment_rate_alert",
            "lower",
        ),
        K("service_level", "Niveau de service (20 s)", "pct", "service_level_target", ">=", None, "higher"),
        K("tickets_created", "Tickets créés", "count", better=None),
        K("tickets_closed", "Tickets fermés", "count", better="higher"),
        K(
            "avg_first_reply_business_hours",
            "Temps de première réponse",
            "hours",
            "first_reply_target_hours",
            "<",
            "!is_first_reply_alert",
            "lower",
        ),
        K(
            "first_contact_resolution_rate",
            "Résolution au 1er contact",
            "pct",
            "first_contact_resolution_target",
            ">=",
            "!is_first_contact_resolution_alert",
            "higher",
        ),
        K(
            "tickets_open_over_24h",
            "Tickets ouverts > 24 h",
            "count",
            "tickets_open_over_24h_alert_threshold",
            "<=",
            "!is_tickets_open_over_24h_alert",
            "lower",
        ),
        K("interventions_done", "Interventions réalisées", "count", better="higher"),
        K("field_quote_revenue_eur", "CA devis terrain acceptés", "eur", better="higher"),
    ),  # fmt: skip
    sections=("calls_chart", "alerts", "motives"),
    comparison="J-7",
    previous_label="même jour la semaine dernière",
    previous_step=7,
)

_QUALITY = (
    K("nps", "NPS", "nps", "nps_target", ">", "is_nps_on_target", "higher"),
    K("avg_satisfaction", "Satisfaction moyenne", "score", "avg_satisfaction_target", ">",
      "is_avg_satisfaction_on_target", "higher"),
    K("survey_response_rate", "Taux de réponse aux questionnaires", "pct", "survey_response_rate_target", ">",
      "is_survey_response_rate_on_target", "higher"),
)  # fmt: skip

WEEKLY = ReportSpec(
    name="weekly",
    title="Rapport hebdomadaire opérationnel",
    kind="week",
    cron="0 9 * * 1",
    audiences=("service_client", "field"),
    mart="marts.mart_kpi_weekly",
    period_column="week_start",
    complete_flag="is_complete_week",
    kpis=(
        K("calls", "Appels", "count", better=None),
        K("avg_calls_per_business_day", "Appels par jour ouvré", "decimal", better=None),
        K("abandonment_rate", "Taux d'abandon", "pct", better="lower"),
        K("service_level", "Niveau de service (20 s)", "pct", "service_level_target", ">=", None, "higher"),
        K("tickets_created", "Tickets ouverts", "count", better=None),
        K("tickets_closed", "Tickets fermés", "count", better="higher"),
        K("tickets_open_at_week_end", "Tickets en cours (fin de semaine)", "count", better="lower"),
        K(
            "avg_first_reply_business_hours",
            "Temps de première réponse",
            "hours",
            "first_reply_target_hours",
            "<",
            None,
            "lower",
        ),
        K(
            "avg_resolution_business_hours",
            "Temps de résolution moyen",
            "hours",
            "resolution_target_hours",
            "<",
            "is_avg_resolution_on_target",
            "lower",
        ),
        K(
            "first_contact_resolution_rate",
            "Résolution au 1er contact",
            "pct",
            "first_contact_resolution_target",
            ">=",
            None,
            "higher",
        ),
        *_QUALITY,
        K("interventions_done", "Interventions réalisées", "count", better="higher"),
        K("field_quote_revenue_eur", "CA devis terrain acceptés", "eur", better="higher"),
    ),  # fmt: skip
    sections=("calls_chart", "drivers", "motives", "issues", "planning", "alerts"),
    comparison="S-1",
    previous_label="semaine précédente",
)

MONTHLY = ReportSpec(
    name="monthly",
    title="Rapport mensuel de direction",
    kind="month",
    cron="0 9 1 * *",
    audiences=("direction",),
    mart="marts.mart_kpi_monthly",
    period_column="month_start",
    complete_flag="is_complete_month",
    kpis=(
        K("nps", "NPS", "nps", "nps_target", ">", None, "higher"),
        K("avg_satisfaction", "Satisfaction moyenne", "score", "avg_satisfaction_target", ">", None, "higher"),
        K(
            "survey_response_rate",
            "Taux de réponse aux questionnaires",
            "pct",
            "survey_response_rate_target",
            ">",
            None,
            "higher",
        ),
        K(
            "lost_customers",
            "Clients perdus",
            "count",
            "lost_customers_target_below",
            "<",
            "is_lost_customers_on_target",
            "lower",
        ),
        K(
            "field_quote_revenue_eur",
            "CA additionnel devis terrain",
            "eur",
            "field_quote_revenue_target_eur",
            ">=",
            "is_field_quote_revenue_on_target",
            "higher",
        ),
        K("field_quote_revenue_ytd_eur", "CA devis terrain depuis janvier", "eur", better="higher"),
        K("customer_service_cost_eur", "Coût du service client (comptabilisé)", "eur", better="lower"),
        K("cost_per_call_eur", "Coût moyen par appel", "eur", None, None, "is_cost_per_call_on_target", "lower"),
        K("calls", "Appels", "count", better=None),
        K("avg_calls_per_business_day", "Appels par jour ouvré", "decimal", better=None),
        K("first_contact_resolution_rate", "Résolution au 1er contact", "pct", better="higher"),
        K("avg_first_reply_business_hours", "Temps de première réponse", "hours", better="lower"),
        K("online_booking_share", "RDV pris en ligne", "pct", better="higher"),
        K("invoiced_revenue_eur", "Chiffre d'affaires facturé", "eur", better="higher"),
    ),  # fmt: skip
    sections=("satisfaction_chart", "revenue_chart", "cost", "drivers", "motives", "segments", "alerts"),
    comparison="M-1",
    previous_label="mois précédent",
)

QUARTERLY = ReportSpec(
    name="quarterly",
    title="Rapport trimestriel stratégique",
    kind="quarter",
    cron="0 10 1 1,4,7,10 *",
    audiences=("codir",),
    mart="marts.mart_kpi_quarterly",
    period_column="quarter_start",
    complete_flag="is_complete_quarter",
    kpis=(
        K("calls", "Appels", "count", better=None),
        K("avg_calls_per_business_day", "Appels par jour ouvré", "decimal", better=None),
        *_QUALITY,
        K(
            "lost_customers",
            "Clients perdus",
            "count",
            "lost_customers_target_below",
            "<",
            "is_lost_customers_on_target",
            "lower",
        ),
        K(
            "first_contact_resolution_rate",
            "Résolution au 1er contact",
            "pct",
            "first_contact_resolution_target",
            ">=",
            "is_first_contact_resolution_on_target",
            "higher",
        ),
        K(
            "avg_first_reply_business_hours",
            "Temps de première réponse",
            "hours",
            "first_reply_target_hours",
            "<",
            "is_first_reply_on_target",
            "lower",
        ),
        K(
            "avg_resolution_business_hours",
            "Temps de résolution moyen",
            "hours",
            "resolution_target_hours",
            "<",
            "is_avg_resolution_on_target",
            "lower",
        ),
        K(
            "service_level",
            "Niveau de service (20 s)",
            "pct",
            "service_level_target",
            ">=",
            "is_service_level_on_target",
            "higher",
        ),
        K("abandonment_rate", "Taux d'abandon", "pct", better="lower"),
        K(
            "field_quote_revenue_eur",
            "CA additionnel devis terrain",
            "eur",
            "field_quote_revenue_target_eur",
            ">=",
            "is_field_quote_revenue_on_target",
            "higher",
        ),
        K("cost_per_call_eur", "Coût moyen par appel", "eur", better="lower"),
        K("invoiced_revenue_eur", "Chiffre d'affaires facturé", "eur", better="higher"),
    ),  # fmt: skip
    sections=("evolution_chart", "drivers", "segments", "cohorts", "retention_curve", "recommendations"),
    comparison="T-1",
    previous_label="trimestre précédent",
)

REPORTS = {r.name: r for r in (DAILY, WEEKLY, MONTHLY, QUARTERLY)}


def report(name: str) -> ReportSpec:
    if name not in REPORTS:
        raise ValueError(f"unknown report {name!r}; known: {', '.join(REPORTS)}")
    return REPORTS[name]
