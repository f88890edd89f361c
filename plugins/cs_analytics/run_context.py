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
    """The instant freshness is judged at: the run's data interval end, else its logical date,
    else when it was due (asset-triggered runs have neither); None means now."""
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if value is not None:
            return value
    dag_run = context.get("dag_run")
    return getattr(dag_run, "run_after", None) if dag_run is not None else None
