"""Ingestion task entry points, one per source; each loads one object for the run's data interval."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cs_analytics.config import CTI_LANDING_CONN_ID, ERP_CONN_ID, IngestSettings
from cs_analytics.ingestion.batch import BatchContext
from cs_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)


def batch_context(source: str, obj: str, context: dict[str, Any]) -> BatchContext:
    return BatchContext(
        source=source,
        object=obj,
        dag_id=context["dag"].dag_id,
        run_id=context["run_id"],
        interval_start=context.get("data_interval_start"),
        interval_end=context.get("data_interval_end"),
    )


def _load_api_object(source: str, obj: str, context: dict[str, Any], client_class, load) -> dict[str, Any]:
    settings = IngestSettings.from_env()
    client = client_class.from_connection(settings=settings)
    return load(Warehouse.for_flow("loader"), client, obj, batch_context(source, obj, context), settings).to_dict()


def load_crm(object_type: str, context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ingestion.crm import HubSpotClient, load_object

    return _load_api_object("crm", object_type, context, HubSpotClient, load_object)


def load_mobile_app(resource: str, context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ingestion.mobile_app import MobileAppClient, load_resource

    return _load_api_object("mobile_app", resource, context, MobileAppClient, load_resource)


def load_portal_analytics(report: str, context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ingestion.portal_analytics import SOURCE, Ga4Client, load_report

    return _load_api_object(SOURCE, report, context, Ga4Client, load_report)


def load_mailbox(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ingestion.mailbox import OBJECT, SOURCE, GraphMailClient, load_messages

    settings = IngestSettings.from_env()
    client = GraphMailClient.from_connection(settings=settings)
    result = load_messages(Warehouse.for_flow("loader"), client, batch_context(SOURCE, OBJECT, context), settings)
    return result.to_dict()


def load_weather(kind: str, context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.config import WeatherSettings
    from cs_analytics.ingestion.weather import SOURCE, OpenMeteoClient, load_weather

    ingest, settings = IngestSettings.from_env(), WeatherSettings.from_env()
    client = OpenMeteoClient.from_connection(ingest=ingest, settings=settings)
    result = load_weather(
        Warehouse.for_flow("loader"), client, kind, batch_context(SOURCE, kind, context), settings, ingest
    )
    return result.to_dict()


def load_erp(table: str, context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ingestion.erp import load_table

    result = load_table(
        Warehouse.for_flow("loader"),
        Warehouse.from_connection(ERP_CONN_ID),
        table,
        batch_context("erp", table, context),
    )
    return result.to_dict()


def cti_landing_dir() -> Path:
    from cs_analytics.connections import get_connection

    path = (get_connection(CTI_LANDING_CONN_ID).extra_dejson or {}).get("path")
    if not path:
        raise ValueError(f"connection '{CTI_LANDING_CONN_ID}' has no 'path' in its extra")
    return Path(path)


def cdr_file_is_ready(interval_start: datetime) -> bool:
    """The sensor's poke: the day's CDR file is there and complete (see cti.cdr_file_ready)."""
    from cs_analytics.ingestion.cdr_parser import PARIS
    from cs_analytics.ingestion.cti import cdr_file_ready

    path = cti_landing_dir() / f"cdr_{interval_start.astimezone(PARIS):%Y%m%d}.csv"
    ready = path.exists() and cdr_file_ready(path, datetime.now(UTC), IngestSettings.from_env().cti_partial_file_wait)
    log.info("%s: %s", path, "ready" if ready else "not there yet" if not path.exists() else "still being written")
    return ready


def load_cti(context: dict[str, Any]) -> dict[str, Any]:
    from cs_analytics.ingestion.cti import accept_files, load_landing_folder

    warehouse = Warehouse.for_flow("loader")
    accept = (context.get("params") or {}).get("accept_files") or []
    if accept:
        accept_files(warehouse, accept, f"airflow:{context['run_id']}")
    result = load_landing_folder(warehouse, cti_landing_dir(), batch_context("cti", "calls", context))
    return result.to_dict()


def summarise(source: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """One log table per run, and the totals the run summary and the UI show."""
    totals = {
        k: sum(r.get(k, 0) for r in results)
        for k in ("rows_read", "rows_inserted", "rows_updated", "rows_unchanged", "rows_quarantined")
    }
    log.info(
        "%s load summary:\n%s",
        source,
        "\n".join(
            f"  {r['object']:<24} read {r['rows_read']:>8}  inserted {r['rows_inserted']:>8}  "
            f"updated {r['rows_updated']:>7}  quarantined {r['rows_quarantined']:>5}"
            for r in results
        ),
    )
    return {"source": source, "objects": len(results), **totals}
