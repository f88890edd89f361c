"""What a task reads from its Airflow context about the period its run covers.

Import-light (no Airflow import): every flow's task entry points use it, and so do tests
that hand them a plain dict.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from cs_analytics.config import LOCAL_TZ


def as_of_date(context: dict[str, Any]) -> date:
    """The last full day the run covers (data interval end, Paris calendar), never the wall clock."""
    end = context["data_interval_end"].in_timezone(LOCAL_TZ)
    return (end.subtract(days=1)).date()


def reference_instant(context: dict[str, Any]) -> datetime | None:
    """The run's as-of instant ("today" for the marts, "now" for the quality gate): its data
    interval end; an asset-triggered run has none (Airflow 3), so the latest data interval end
    of the ingestion runs whose Assets triggered it; else its logical date, else when it was
    due. None means now."""
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if value is not None:
            return value
    if (triggered := _triggering_interval_end(context)) is not None:
        return triggered
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_after", None) if dag_run is not None else None


def _triggering_interval_end(context: dict[str, Any]) -> datetime | None:
    ends = []
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            run = getattr(event, "source_dag_run", None)
            if getattr(run, "data_interval_end", None) is not None:
                ends.append(run.data_interval_end)
    return max(ends) if ends else None


def resolve_as_of(context: dict[str, Any]) -> str:
    """The as-of instant as ISO-8601: the transform run's dbt var `as_of` and its gate's "now"."""
    from datetime import UTC

    return (reference_instant(context) or datetime.now(UTC)).isoformat()
