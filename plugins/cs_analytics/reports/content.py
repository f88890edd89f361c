"""A report's content for one period, as data: the KPI table against target, the previous period
and the same period last year, then the report's sections (charts, tables, bullet points), each
built from the marts (queries.py) and the pure analyses (ml_tasks.kpi_trends, ml_tasks.retention).

`build(wh, spec, period, until, freshness)` returns a `ReportContent` that render.py turns into
the e-mail and the Slack summary. A period the marts have no row for is a `ReportDataError`,
never a report with blanks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from cs_analytics.alerts.messages import Image
from cs_analytics.reports import charts, queries
from cs_analytics.reports.catalog import ReportSpec
from cs_analytics.reports.freshness import Freshness
from cs_analytics.reports.periods import Period
from ml_tasks import kpi_trends, retention
from ml_tasks.kpi_trends import KpiLine

_SEVERITY = {"critical": "🔴 Critique", "important": "🟠 Important", "info": "🟡 Info"}
_WEEKDAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")


# ----------------------------------------------------------------------------- formatting (French)
def fmt(unit: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    v = float(value)
    if unit == "pct":
        return f"{charts.fr_number(v * 100, 1)} %"
    if unit == "eur":
        return f"{charts.fr_number(v, 2 if abs(v) < 100 else 0)} €"
    if unit == "hours":
        return f"{charts.fr_number(v, 1)} h"
    if unit == "score":
        return f"{charts.fr_number(v, 2)}/5"
    if unit == "seconds":
        return f"{charts.fr_number(v)} s"
    if unit in ("nps", "decimal"):
        return charts.fr_number(v, 1)
    return charts.fr_number(v)


def change_text(line: KpiLine, c: kpi_trends.Change) -> str:
    """+4,1 pt for a share or a score, +12,3 % for a count, an amount or a duration."""
    if c.delta is None:
        return "–"
    sign = "+" if c.delta >= 0 else "−"
    if c.in_points:
        scale, decimals = {"pct": (100, 1), "score": (1, 2)}.get(line.spec.unit, (1, 1))
        return f"{sign}{charts.fr_number(abs(c.delta) * scale, decimals)} pt"
    if c.ratio is None:  # from zero
        return f"{sign}{fmt(line.spec.unit, abs(c.delta))}"
    return f"{'+' if c.ratio >= 0 else '−'}{charts.fr_number(abs(c.ratio) * 100, 1)} %"


def target_text(line: KpiLine) -> str:
    if line.target is None or line.spec.target_op is None:
        return ""
    op = {">": ">", ">=": "≥", "<": "<", "<=": "≤"}[line.spec.target_op]
    return f"{op} {fmt(line.spec.unit, line.target)}"


# ----------------------------------------------------------------------------- content model
@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    align: list[str] = field(default_factory=list)  # 'l' | 'r' per column
    classes: list[list[str]] = field(default_factory=list)  # per cell: '', 'good', 'bad', 'muted'

    def __post_init__(self) -> None:
        if not self.align:
            self.align = ["l"] + ["r"] * (len(self.headers) - 1)
        if not self.classes:
            self.classes = [[""] * len(self.headers) for _ in self.rows]


@dataclass
class Section:
    key: str
    title: str
    intro: str | None = None
    bullets: list[str] = field(default_factory=list)
    table: Table | None = None
    image: Image | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "intro": self.intro, "bullets": self.bullets,
                "table": self.table.__dict__ if self.table else None,
                "image": {"cid": self.image.cid, "alt": self.image.alt} if self.image else None,
                "note": self.note}  # fmt: skip


@dataclass
class ReportContent:
    spec: ReportSpec
    period: Period
    lines: list[KpiLine]
    sections: list[Section]
    freshness: Freshness
    previous: Period
    last_year: Period
    headline: str  # one sentence: the period in figures

    @property
    def images(self) -> tuple[Image, ...]:
        return tuple(s.image for s in self.sections if s.image is not None)

    def kpi_table(self) -> Table:
        rows, classes = [], []
        for line in self.lines:
            status = {"ok": "✅", "ko": "⚠️", "wait": "⏳"}.get(line.status or "", "")
            rows.append([line.spec.label, fmt(line.spec.unit, line.value), target_text(line), status,
                         change_text(line, line.previous), change_text(line, line.last_year)])  # fmt: skip
            classes.append(["", "bad" if line.status == "ko" else "", "muted", "",
                            _verdict_class(line.previous.verdict), _verdict_class(line.last_year.verdict)])  # fmt: skip
        return Table(
            headers=["Indicateur", self.period.short_label, "Cible", "", f"vs {self.spec.comparison}",
                     "vs an dernier"],
            rows=rows, align=["l", "r", "r", "c", "r", "r"], classes=classes,
        )  # fmt: skip


def _verdict_class(verdict: str | None) -> str:
    return {"better": "good", "worse": "bad"}.get(verdict or "", "muted")


# ----------------------------------------------------------------------------- building
def build(wh, spec: ReportSpec, period: Period, until: datetime, freshness: Freshness) -> ReportContent:
    current = queries.period_row(wh, spec.mart, spec.period_column, period)
    if current is None:
        raise queries.ReportDataError(
            f"report {spec.name}: {spec.mart} has no row for {period.kind} {period.key} "
            f"({period.start} .. {period.last_day}): nothing to report"
        )
    previous_period, last_year_period = spec.previous(period), period.last_year()
    previous = queries.period_row(wh, spec.mart, spec.period_column, previous_period)
    last_year = queries.period_row(wh, spec.mart, spec.period_column, last_year_period)
    lines = kpi_trends.compare(spec.kpis, current, previous, last_year)
    b = _Builder(wh, spec, period, until, current, lines, previous_period)
    sections = [section for key in spec.sections if (section := getattr(b, key)()) is not None]
    return ReportContent(spec, period, lines, sections, freshness, previous_period, last_year_period,
                         headline=_headline(spec, lines))  # fmt: skip


def _headline(spec: ReportSpec, lines: list[KpiLine]) -> str:
    on = [ln for ln in lines if ln.status == "ok"]
    off = [ln for ln in lines if ln.status == "ko"]
    first = lines[0]
    text = f"{first.spec.label} : {fmt(first.spec.unit, first.value)}"
    if first.previous.delta is not None:
        text += f" ({change_text(first, first.previous)} vs {spec.comparison})"
    if on or off:
        text += f" · {len(on)} indicateur(s) dans la cible, {len(off)} hors cible"
        if off:
            text += " : " + ", ".join(ln.spec.label.lower() for ln in off[:4])
    return text + "."


class _Builder:
    """One method per section key of catalog.ReportSpec.sections."""

    def __init__(self, wh, spec: ReportSpec, period: Period, until: datetime, row: dict, lines: list[KpiLine],
                 previous: Period):  # fmt: skip
        self.wh, self.spec, self.period, self.until, self.row, self.lines = wh, spec, period, until, row, lines
        self.previous_period = previous
        self._motives: pd.DataFrame | None = None
        self._segments: tuple[pd.DataFrame, date | None] | None = None
        self._drivers: kpi_trends.VolumeDrivers | None = None

    def _cid(self, name: str) -> str:
        return f"{self.spec.name}_{name}_{self.period.key}".replace(" ", "_")

    # ---- charts
    def calls_chart(self) -> Section:
        if self.period.kind == "day":
            days = queries.daily_rows(self.wh, self.period.start - timedelta(days=27), self.period.end)
            png = charts.daily_calls_png(list(days["kpi_date"]), list(days["calls_per_day"]),
                                         list(days["calls_per_day_alert_threshold"]), highlight=self.period.start)  # fmt: skip
            alt = "Appels par jour sur quatre semaines"
        else:
            series = queries.period_series(self.wh, self.spec.mart, self.spec.period_column, self.period, 12)
            ly = queries.period_series(self.wh, self.spec.mart, self.spec.period_column, self.period.last_year(), 12)
            ly_by = dict(zip(ly[self.spec.period_column] + timedelta(weeks=52), ly["calls"], strict=True))
            labels = [f"S{d.isocalendar().week}" for d in series[self.spec.period_column]]
            png = charts.bars_png(charts.Panel(
                "Appels par semaine (12 dernières semaines)", labels, list(series["calls"]),
                last_year=[ly_by.get(d) for d in series[self.spec.period_column]]))  # fmt: skip
            alt = "Appels par semaine sur douze semaines"
        return Section("calls_chart", "Volume d'appels", image=Image.png(self._cid("calls"), png, alt))

    def satisfaction_chart(self) -> Section:
        s = queries.period_series(self.wh, self.spec.mart, self.spec.period_column, self.period, 12)
        labels = [f"{d:%m/%y}" for d in s[self.spec.period_column]]
        png = charts.panels_png([
            charts.Panel("NPS par mois", labels, list(s["nps"]), target=self.row.get("nps_target")),
            charts.Panel("Satisfaction moyenne (/5)", labels, list(s["avg_satisfaction"]),
                         target=self.row.get("avg_satisfaction_target"), decimals=2),
        ])  # fmt: skip
        return Section("satisfaction_chart", "Évolution de la satisfaction (12 mois)",
                       image=Image.png(self._cid("satisfaction"), png, "NPS et satisfaction sur douze mois"))  # fmt: skip

    def revenue_chart(self) -> Section:
        s = queries.period_series(self.wh, self.spec.mart, self.spec.period_column, self.period, 12)
        labels = [f"{d:%m/%y}" for d in s[self.spec.period_column]]
        png = charts.bars_png(charts.Panel(
            "CA additionnel des devis terrain par mois (€)", labels, list(s["field_quote_revenue_eur"]),
            target=self.row.get("field_quote_revenue_target_eur"), last_year=list(s["field_quote_revenue_last_year_eur"])))  # fmt: skip
        return Section("revenue_chart", "CA additionnel des devis terrain",
                       intro=f"Cumul depuis janvier : {fmt('eur', self.row.get('field_quote_revenue_ytd_eur'))}.",
                       image=Image.png(self._cid("revenue"), png, "CA des devis terrain sur douze mois"))  # fmt: skip

    def evolution_chart(self) -> Section:
        s = queries.period_series(self.wh, self.spec.mart, self.spec.period_column, self.period, 8)
        labels = list(s["quarter_label"].str.replace(" 20", " ", regex=False))
        by = {d: r for d, r in zip(s[self.spec.period_column], s.to_dict("records"), strict=True)}

        def ly(col: str) -> list:
            return [by.get(date(d.year - 1, d.month, 1), {}).get(col) for d in s[self.spec.period_column]]

        r = self.row
        png = charts.panels_png([
            charts.Panel("Appels par jour ouvré", labels, list(s["avg_calls_per_business_day"]),
                         last_year=ly("avg_calls_per_business_day"), decimals=1),
            charts.Panel("NPS", labels, list(s["nps"]), target=r.get("nps_target"), last_year=ly("nps")),
            charts.Panel("Satisfaction moyenne (/5)", labels, list(s["avg_satisfaction"]),
                         target=r.get("avg_satisfaction_target"), decimals=2),
            charts.Panel("Résolution au 1er contact (%)", labels, list(s["first_contact_resolution_rate"]),
                         target=r.get("first_contact_resolution_target"), scale=100),
        ])  # fmt: skip
        return Section("evolution_chart", "Évolution des KPIs sur huit trimestres",
                       image=Image.png(self._cid("evolution"), png, "Évolution trimestrielle des KPIs"))  # fmt: skip

    # ---- tables and analyses
    def alerts(self) -> Section:
        since = queries.local_midnight(self.period.start)
        until = self.until if self.period.kind == "day" else queries.local_midnight(self.period.end)
        df = queries.alerts(self.wh, since, until)
        title = "Alertes du jour" if self.period.kind == "day" else "Alertes de la période"
        if df.empty:
            return Section("alerts", title, intro="Aucune alerte levée sur la période.")
        counts = df["severity"].value_counts()
        intro = f"{len(df)} alerte(s) : " + ", ".join(
            f"{counts[s]} {_SEVERITY[s].split(' ', 1)[1].lower()}" for s in ("critical", "important", "info") if s in counts
        ) + "."  # fmt: skip
        rows = [
            [_SEVERITY.get(r.severity, r.severity or "–"), r.title, r.channels,
             "envoyée" if r.delivered else ("en échec" if r.failed else "en attente")]
            for r in df.head(15).itertuples()
        ]  # fmt: skip
        note = (
            f"… et {len(df) - 15} autre(s) dans le journal des envois (marts.alert_delivery_log)."
            if len(df) > 15
            else None
        )
        return Section("alerts", title, intro=intro, note=note,
                       table=Table(["Gravité", "Alerte", "Canaux", "Statut"], rows, ["l", "l", "l", "l"]))  # fmt: skip

    def _motive_frame(self) -> pd.DataFrame:
        if self._motives is None:
            self._motives = queries.motives(self.wh, self.period.start, self.period.end)
        return self._motives

    def motives(self) -> Section | None:
        df = self._motive_frame()
        if df.empty:
            return Section("motives", "Top des motifs d'appel", intro="Aucun appel ni ticket sur la période.")
        total = max(int(df["calls"].sum()), 1)
        # A complaint motive is flagged unless its name already says so ("Réclamation (réclamation)").
        rows = [[r.category + (" (réclamation)" if r.is_complaint and "réclamation" not in r.category.lower() else ""),
                 charts.fr_number(r.calls),
                 f"{charts.fr_number(100 * r.calls / total, 1)} %", charts.fr_number(r.tickets),
                 charts.fr_number(r.still_open)] for r in df.head(6).itertuples()]  # fmt: skip
        return Section("motives", "Top des motifs d'appel et de ticket",
                       table=Table(["Motif", "Appels", "Part", "Tickets", "dont ouverts"], rows))  # fmt: skip

    def drivers(self) -> Section | None:
        cur = queries.daily_rows(self.wh, self.period.start, self.period.end)
        ref = queries.daily_rows(self.wh, self.previous_period.start, self.previous_period.end)
        if cur.empty or ref.empty:
            return Section("drivers", "Ce qui a fait bouger le volume d'appels",
                           intro=f"Pas de données pour comparer avec la période précédente ({self.previous_period.label}).")  # fmt: skip
        ref_motives = queries.motives(self.wh, self.previous_period.start, self.previous_period.end)
        self._drivers = kpi_trends.call_volume_drivers(
            cur, ref, self._motive_frame(), ref_motives, cold_below_c=3.0, heat_above_c=30.0)  # fmt: skip
        d = self._drivers
        change = f"{'+' if d.change >= 0 else '−'}{charts.fr_number(abs(d.change))}"
        intro = (f"{charts.fr_number(d.calls)} appels contre {charts.fr_number(d.reference_calls)} "
                 f"({self.spec.previous_label}, {self.previous_period.label}) : {change} appels. Décomposition :")  # fmt: skip
        return Section("drivers", "Ce qui a fait bouger le volume d'appels", intro=intro,
                       bullets=[x.text for x in d.drivers])  # fmt: skip

    def issues(self) -> Section:
        i = queries.issues(self.wh, self.period.start, self.period.end)
        bullets = [
            f"{i['complaints']} réclamation(s) ouvertes dans la semaine.",
            f"{i['tickets_over_24h']} ticket(s) de la semaine fermés ou encore ouverts au-delà de 24 h ; "
            f"{fmt('count', self.row.get('tickets_open_over_24h_at_week_end'))} ticket(s) ouverts depuis plus de 24 h "
            "en fin de semaine.",
            f"{i['csat_below_3']} note(s) de satisfaction sous 3/5 et {i['nps_detractors']} détracteur(s) NPS.",
        ]
        return Section("issues", "Points d'attention de la semaine", bullets=bullets)

    def planning(self) -> Section:
        start = self.period.end  # the report goes out on Monday: this week's planning
        df, routes = queries.planning(self.wh, start, start + timedelta(days=7))
        title = f"Planning des techniciens, semaine du {start:%d/%m}"
        if df.empty:
            return Section("planning", title, intro="Aucune intervention planifiée pour la semaine.")
        days = sorted(df["day"].unique())
        rows = []
        for tech, g in df.groupby("technician", sort=True):
            cells = {r.day: r for r in g.itertuples()}
            row = [tech]
            for d in days:
                r = cells.get(d)
                if r is None:
                    row.append("–")
                    continue
                text = f"{r.visits} RDV · {charts.fr_number(float(r.booked_hours), 1)} h"
                if (
                    routes
                    and getattr(r, "route_km", None) == getattr(r, "route_km", None)
                    and getattr(r, "route_km", None) is not None
                ):
                    text += f" · {charts.fr_number(float(r.route_km))} km"
                row.append(text)
            row.append(f"{int(g['visits'].sum())}")
            rows.append(row)
        headers = ["Technicien", *(f"{_WEEKDAYS[d.weekday()]} {d:%d/%m}" for d in days), "Total RDV"]
        intro = (f"{int(df['visits'].sum())} interventions réservées pour {df['technician'].nunique()} techniciens"
                 + (" ; kilomètres des tournées optimisées (ml.technician_routes)." if routes
                    else " ; tournées optimisées pas encore calculées pour ces jours."))  # fmt: skip
        return Section("planning", title, intro=intro, table=Table(headers, rows))

    def cost(self) -> Section:
        r = self.row
        bullets = [f"Coûts du service client comptabilisés pour le mois : {fmt('eur', r.get('customer_service_cost_eur'))} "
                   f"(clôture comptable {'faite' if r.get('is_ledger_closed') else 'pas encore faite'})."]  # fmt: skip
        if r.get("cost_per_call_eur") is None:
            bullets.append(
                "Coût moyen par appel : non publié tant que le mois n'est pas clôturé en comptabilité et que tous ses "
                "appels ne sont pas chargés (is_cost_per_call_final) ; il paraîtra dans le rapport suivant."
            )
        else:
            bullets.append(f"Coût moyen par appel : {fmt('eur', r['cost_per_call_eur'])} pour "
                           f"{fmt('count', r.get('handled_calls'))} appels traités.")  # fmt: skip
        if r.get("cost_per_call_previous_month_eur") is not None:
            bullets.append(f"Mois précédent : {fmt('eur', r['cost_per_call_previous_month_eur'])} par appel.")
        if r.get("cost_per_call_last_year_eur") is not None:
            bullets.append(f"Même mois l'an dernier : {fmt('eur', r['cost_per_call_last_year_eur'])} par appel ; objectif "
                           f"{fmt('pct', r.get('cost_per_call_target_change'))} sur un an.")  # fmt: skip
        return Section("cost", "Coûts", bullets=bullets)

    def _segment_frame(self) -> tuple[pd.DataFrame, date | None]:
        if self._segments is None:
            self._segments = queries.segments(self.wh, self.period.last_day)
        return self._segments

    def segments(self) -> Section:
        df, scored = self._segment_frame()
        title = "Segments clients (RFM) et actions"
        if df.empty:
            return Section("segments", title, intro="Segmentation RFM pas encore calculée (ml.customer_segments vide).")
        rows = []
        for r in df.itertuples():
            budget = ("–" if r.budget_share is None or r.budget_share != r.budget_share
                      else f"{charts.fr_number(100 * float(r.budget_share))} %")  # fmt: skip
            annual = ("" if r.budget_per_customer_eur is None or r.budget_per_customer_eur != r.budget_per_customer_eur
                      else f" ({charts.fr_number(float(r.budget_per_customer_eur) * r.customers)} €/an)")  # fmt: skip
            rows.append([r.label, f"{charts.fr_number(r.customers)} ({charts.fr_number(100 * r.customer_share, 1)} %)",
                         f"{charts.fr_number(r.recency_days)} j", charts.fr_number(float(r.frequency), 1),
                         fmt("eur", r.monetary_eur), f"{charts.fr_number(100 * r.revenue_share, 1)} %", budget + annual])  # fmt: skip
        top = df.sort_values("revenue_share", ascending=False).iloc[0]
        insights = [
            f"{top['label']} : {charts.fr_number(100 * top['customer_share'], 1)} % des clients pour "
            f"{charts.fr_number(100 * top['revenue_share'], 1)} % du montant facturé."
        ]
        for r in df.itertuples():
            if isinstance(r.actions, str) and r.actions:
                actions = "; ".join(a.strip() for a in r.actions.split(";")[:2])
                insights.append(f"{r.label} ({r.expected_roi or 'ROI non chiffré'}) : {actions}.")
        return Section("segments", title,
                       intro=f"Segmentation du {scored:%d/%m/%Y} ; budget marketing réparti selon la segmentation (004).",
                       table=Table(["Segment", "Clients", "Récence moy.", "Fréquence", "Montant moyen", "Part du CA",
                                    "Budget"], rows),
                       bullets=insights)  # fmt: skip

    def cohorts(self) -> Section:
        customers = queries.customers(self.wh)
        table = retention.cohort_retention(customers, self.period.last_day, freq="Q", months=(3, 6, 12, 18, 24))
        title = "Rétention par cohorte (trimestre d'arrivée)"
        if table.empty:
            return Section("cohorts", title, intro="Aucun client arrivé sur la période couverte.")
        months = [c for c in table.columns if c.startswith("M+")]
        rows = [[r["cohort"], charts.fr_number(r["customers"]),
                 *("–" if r[m] != r[m] else f"{charts.fr_number(100 * r[m], 1)} %" for m in months)]
                for r in table.to_dict("records")]  # fmt: skip
        headers = ["Cohorte", "Clients", *(f"{m.replace('M+', '')} mois" for m in months)]
        return Section("cohorts", title, table=Table(headers, rows),
                       intro="Part des clients arrivés dans le trimestre encore clients N mois après leur arrivée "
                             "(– : pas encore observable pour toute la cohorte).")  # fmt: skip

    def retention_curve(self) -> Section:
        durations = retention.customer_durations(queries.customers(self.wh), self.period.last_day)
        title = "Courbe de rétention des clients"
        if durations.empty:
            return Section("retention_curve", title, intro="Aucun client.")
        km = retention.kaplan_meier(durations["months"], durations["lost"])
        png = charts.retention_curve_png(km.curve["months"], km.curve["survival"], km.curve["lower"],
                                         km.curve["upper"], km.customers, km.losses)  # fmt: skip
        curve = km.curve
        bullets = []
        for m, s in km.at.items():
            band = curve[curve["months"] <= m].iloc[-1]
            bullets.append(f"Après {m} mois : {charts.fr_number(100 * s, 1)} % des clients encore actifs "
                           f"(IC 95 % : {charts.fr_number(100 * band['lower'], 1)}–{charts.fr_number(100 * band['upper'], 1)} %).")  # fmt: skip
        bullets.append("Durée médiane de vie client : "
                       + (f"{charts.fr_number(km.median_months, 0)} mois." if km.median_months is not None
                          else "non atteinte (plus de la moitié des clients sont toujours là)."))  # fmt: skip
        return Section("retention_curve", title, bullets=bullets,
                       image=Image.png(self._cid("retention"), png, "Courbe de rétention Kaplan-Meier"))  # fmt: skip

    def recommendations(self) -> Section:
        segments = self._segment_frame()[0]
        recs = kpi_trends.recommendations(self.lines, self._drivers,
                                          segments if not segments.empty else None)  # fmt: skip
        if not recs:
            recs = ["Tous les indicateurs suivis sont dans leur cible : maintenir l'organisation actuelle."]
        return Section("recommendations", "Recommandations", bullets=recs)
