"""Business alert rules (spec 3.2), evaluated on the marts as of a given day.

Each rule returns zero or more Alerts with a key that is stable for that condition on
that day, so re-evaluating never re-sends. A threshold the marts define is read from them
(`mart_kpi_daily.is_call_overload`, `calls_per_day_alert_threshold`), never repeated here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from cs_analytics.alerts.messages import Alert

UNUSUAL_PEAK_RATIO = 1.30  # spec 3.2: pic d'appels inhabituel (+30% vs moyenne)
FORECAST_LOOKAHEAD_DAYS = 7

Rule = Callable[[object, date], list[Alert]]


def calls_overload(wh, asof: date) -> list[Alert]:
    rows = wh.query(
        "select calls_per_day, calls_per_day_alert_threshold from marts.mart_kpi_daily "
        "where kpi_date = %s and is_call_overload",
        (asof,),
    )
    if not rows:
        return []
    calls, threshold = rows[0]
    return [
        Alert(
            key=f"calls_overload:{asof}",
            severity="important",
            rule="calls_overload",
            title=f"Surcharge d'appels le {asof:%d/%m/%Y}",
            summary=f"{calls} appels reçus, au-dessus du seuil de {threshold}.",
            facts=(("Appels", str(calls)), ("Seuil", str(threshold))),
        )
    ]


def unusual_call_peak(wh, asof: date) -> list[Alert]:
    rows = wh.query(
        """
        select (select calls_per_day from marts.mart_kpi_daily where kpi_date = %(d)s),
               avg(calls_per_day) filter (where extract(isodow from kpi_date) = extract(isodow from %(d)s::date))
        from marts.mart_kpi_daily where kpi_date between %(d)s::date - 28 and %(d)s::date - 1
        """,
        {"d": asof},
    )
    today, baseline = rows[0] if rows else (None, None)
    if today is None or not baseline or today <= UNUSUAL_PEAK_RATIO * float(baseline):
        return []
    pct = (today / float(baseline) - 1) * 100
    return [
        Alert(
            key=f"unusual_call_peak:{asof}",
            severity="info",
            rule="unusual_call_peak",
            title=f"Pic d'appels inhabituel le {asof:%d/%m/%Y}",
            summary=f"{today} appels, +{pct:.0f}% par rapport à la moyenne des 4 derniers {asof:%A}s.",
            facts=(("Appels", str(today)), ("Moyenne de référence", f"{float(baseline):.1f}")),
        )
    ]


def forecast_overload(wh, asof: date) -> list[Alert]:
    # The same threshold as calls_overload: the one the mart applied on the day of the forecast.
    rows = wh.query(
        """
        select f.target_date, round(f.yhat)::int, round(f.yhat_upper)::int, k.calls_per_day_alert_threshold
        from ml.call_volume_forecast f
        join marts.mart_kpi_daily k on k.kpi_date = f.forecast_date
        where f.forecast_date = %s and f.target_date <= %s and f.yhat > k.calls_per_day_alert_threshold
        order by f.target_date
        """,
        (asof, asof + timedelta(days=FORECAST_LOOKAHEAD_DAYS)),
    )
    if not rows:
        return []
    threshold = rows[0][3]
    return [
        Alert(
            key=f"forecast_overload:{asof}",
            severity="info",
            rule="forecast_overload",
            title=f"Surcharge d'appels prévue sur les {FORECAST_LOOKAHEAD_DAYS} prochains jours",
            summary=f"{len(rows)} jour(s) au-dessus de {threshold} appels prévus : "
            "anticiper le planning (intérimaire, renfort).",
            details=tuple(f"{d:%a %d/%m} : {y} appels prévus (jusqu'à {u})" for d, y, u, _ in rows),
        )
    ]


RULES: tuple[Rule, ...] = (calls_overload, unusual_call_peak, forecast_overload)


def evaluate(wh, asof: date, rules: tuple[Rule, ...] = RULES) -> list[Alert]:
    return [alert for rule in rules for alert in rule(wh, asof)]
