"""bi/*.yaml -> a Superset import bundle (databases/, datasets/, charts/, dashboards/).

The YAML files say what a reader sees (datasets with French labels, charts, dashboard
layout, who may open it); this module turns them into the files Superset's
`/api/v1/assets/import/` takes, with stable UUIDs so a re-import overwrites instead of
duplicating. Everything a chart names (dataset, column, metric, filter) is checked against
the warehouse's catalog first: a typo fails here, naming the file and the name, rather than
as a broken tile in the browser.

Pure: the catalog and the SQL check come in as arguments (provision.py reads them from the
warehouse as bi_reader); nothing here opens a connection.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
SPEC_DIR = REPO / "bi"
SCHEMA = "marts"
DATABASE_FILE = "databases/warehouse.yaml"
# UUIDs derive from names, so the same spec always imports onto the same Superset objects.
NAMESPACE = uuid.UUID("5b0f1d8e-3c1a-4f6e-9a57-0c2f3d9b7e11")
BUNDLE_VERSION = "1.0.0"

# PostgreSQL types (information_schema.columns.data_type) Superset treats as time columns
TEMPORAL_TYPES = {"date", "timestamp without time zone", "timestamp with time zone"}
VIZ_TYPES = {
    "cards": "handlebars",
    "table": "table",
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
}


class SpecError(ValueError):
    """A spec file names something that does not exist, or is malformed: says which file and name."""


# catalog: table -> {column: PostgreSQL data type}, the columns bi_reader can read in `marts`
Catalog = dict[str, dict[str, str]]
# check_sql(table, select_expression, where_expression) -> None, or the database's error message
SqlCheck = Callable[[str, str, str], str | None]


def stable_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{name}"))


@dataclass
class DashboardInfo:
    key: str
    title: str
    slug: str
    uuid: str
    roles: list[str]
    datasets: set[str]
    charts: dict[str, str]  # chart key -> uuid
    source: str  # spec file, relative to the repository


@dataclass
class Bundle:
    files: dict[str, str]
    dashboards: list[DashboardInfo]
    datasets: dict[str, str]  # table -> uuid
    access: dict[str, Any] = field(default_factory=dict)  # bi/access.yaml

    def zip_bytes(self, root: str = "cs_analytics_bi") -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in sorted(self.files.items()):
                zf.writestr(f"{root}/{name}", text)
        return buf.getvalue()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{_rel(path)}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise SpecError(f"{_rel(path)}: expected a mapping at the top level")
    return doc


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


# --------------------------------------------------------------------------- datasets
def _superset_type(pg_type: str) -> str:
    return pg_type.upper()


def _dataset_file(table: str) -> str:
    return f"datasets/warehouse/{table}.yaml"


def build_datasets(
    spec: dict[str, Any], source: str, catalog: Catalog, check_sql: SqlCheck, database_uuid: str
) -> dict[str, dict[str, Any]]:
    """datasets.yaml -> {table: Superset dataset config}; every table, labelled column and metric checked."""
    out: dict[str, dict[str, Any]] = {}
    for table, ds in (spec.get("datasets") or {}).items():
        ds = ds or {}
        if table not in catalog:
            raise SpecError(f"{source}: dataset '{table}': no table {SCHEMA}.{table} readable by bi_reader")
        columns = catalog[table]
        labels: dict[str, str] = ds.get("columns") or {}
        for col in labels:
            if col not in columns:
                raise SpecError(f"{source}: dataset '{table}': column '{col}' is not in {SCHEMA}.{table}")
        formats: dict[str, str] = ds.get("formats") or {}
        metrics = []
        for name, metric in (ds.get("metrics") or {}).items():
            if "sql" not in metric:
                raise SpecError(f"{source}: dataset '{table}': metric '{name}' needs `sql:`")
            error = check_sql(table, metric["sql"], "true")
            if error:
                raise SpecError(f"{source}: dataset '{table}': metric '{name}' ({metric['sql']}): {error}")
            metrics.append(
                {
                    "metric_name": name,
                    "verbose_name": metric.get("label", name),
                    "expression": metric["sql"],
                    "d3format": metric.get("format"),
                    "description": metric.get("description"),
                    "metric_type": None,
                    "extra": {},
                    "warning_text": None,
                }
            )
        temporal = [c for c, t in columns.items() if t in TEMPORAL_TYPES]
        out[table] = {
            "table_name": table,
            "schema": SCHEMA,
            "main_dttm_col": ds.get("time_column") or (temporal[0] if temporal else None),
            "description": ds.get("description"),
            "default_endpoint": None,
            "offset": 0,
            "cache_timeout": None,
            "catalog": None,
            "sql": None,
            "params": None,
            "template_params": None,
            "filter_select_enabled": True,
            "fetch_values_predicate": None,
            "extra": {"certification": {"certified_by": "dbt", "details": f"marts.{table} (dbt model, contract)"}},
            "normalize_columns": False,
            "always_filter_main_dttm": False,
            "uuid": stable_uuid("dataset", table),
            "metrics": metrics,
            "columns": [
                {
                    "column_name": col,
                    "verbose_name": labels.get(col),
                    "is_dttm": pg_type in TEMPORAL_TYPES,
                    "is_active": True,
                    "type": _superset_type(pg_type),
                    "advanced_data_type": None,
                    "groupby": True,
                    "filterable": True,
                    "expression": None,
                    "description": None,
                    "python_date_format": None,
                    "extra": {"d3format": formats[col]} if col in formats else {},
                }
                for col, pg_type in columns.items()
            ],
            "version": BUNDLE_VERSION,
            "database_uuid": database_uuid,
            "is_managed_externally": True,
            "external_url": source,
        }
    return out


# --------------------------------------------------------------------------- charts
@dataclass
class ChartContext:
    source: str  # the dashboard spec file
    key: str
    table: str
    columns: dict[str, str]
    metrics: set[str]
    check_sql: SqlCheck

    def where(self) -> str:
        return f"{self.source}: chart '{self.key}'"

    def column(self, name: str) -> str:
        if name not in self.columns:
            raise SpecError(f"{self.where()}: column '{name}' is not in {SCHEMA}.{self.table}")
        return name

    def metric(self, name: Any) -> Any:
        """A dataset metric by name, or an inline {sql:, label:} (checked on the warehouse)."""
        if isinstance(name, dict):
            if "sql" not in name:
                raise SpecError(f"{self.where()}: an inline metric needs `sql:` ({name})")
            error = self.check_sql(self.table, name["sql"], "true")
            if error:
                raise SpecError(f"{self.where()}: metric {name['sql']!r}: {error}")
            return {
                "expressionType": "SQL",
                "sqlExpression": name["sql"],
                "label": name.get("label", name["sql"]),
                "hasCustomLabel": "label" in name,
                "optionName": f"metric_{uuid.uuid5(NAMESPACE, name['sql']).hex[:12]}",
            }
        if name not in self.metrics:
            raise SpecError(f"{self.where()}: metric '{name}' is not defined for dataset '{self.table}'")
        return name

    def filters(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for expression in spec.get("filters") or []:
            error = self.check_sql(self.table, "1", expression)
            if error:
                raise SpecError(f"{self.where()}: filter {expression!r}: {error}")
            out.append({"expressionType": "SQL", "sqlExpression": expression, "clause": "WHERE"})
        return out


def _order_by(ctx: ChartContext, spec: dict[str, Any]) -> list[str]:
    order = spec.get("order_by") or []
    if isinstance(order, str):
        order = [order]
    out = []
    for item in order:
        desc = item.startswith("-")
        out.append(json.dumps([ctx.column(item.lstrip("-")), not desc]))
    return out


def _raw_query(ctx: ChartContext, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "query_mode": "raw",
        "all_columns": [ctx.column(c) for c in spec["columns"]],
        "order_by_cols": _order_by(ctx, spec),
        "row_limit": spec.get("row_limit", 1000),
        "adhoc_filters": ctx.filters(spec),
        "groupby": [],
        "metrics": [],
        "percent_metrics": [],
        "server_pagination": False,
    }


def _cards_params(ctx: ChartContext, spec: dict[str, Any], templates: Path) -> dict[str, Any]:
    name = spec.get("template", "kpi_cards")
    template, style = templates / f"{name}.hbs", templates / f"{name}.css"
    if not template.exists():
        raise SpecError(f"{ctx.where()}: template '{name}' not found ({_rel(template)})")
    return {
        **_raw_query(ctx, spec),
        "handlebarsTemplate": template.read_text(encoding="utf-8"),
        "styleTemplate": style.read_text(encoding="utf-8") if style.exists() else "",
    }


def _table_params(ctx: ChartContext, spec: dict[str, Any]) -> dict[str, Any]:
    column_config = {}
    for col, fmt in (spec.get("formats") or {}).items():
        column_config[ctx.column(col)] = {"d3NumberFormat": fmt}
    for col, width in (spec.get("widths") or {}).items():
        column_config.setdefault(ctx.column(col), {})["columnWidth"] = width
    return {
        **_raw_query(ctx, spec),
        "table_timestamp_format": spec.get("date_format", "%d/%m/%Y"),
        "column_config": column_config,
        "include_search": False,
        "show_cell_bars": False,
        "allow_render_html": True,
        "page_length": 0,
        "color_pn": False,
    }


def _timeseries_params(ctx: ChartContext, spec: dict[str, Any]) -> dict[str, Any]:
    x = ctx.column(spec["x"])
    temporal = ctx.columns[x] in TEMPORAL_TYPES
    params: dict[str, Any] = {
        "x_axis": x,
        "metrics": [ctx.metric(m) for m in spec["metrics"]],
        "groupby": [ctx.column(c) for c in spec.get("groupby") or []],
        "adhoc_filters": ctx.filters(spec),
        "row_limit": spec.get("row_limit", 10000),
        "order_desc": True,
        "show_legend": True,
        "legendType": "scroll",
        "legendOrientation": "top",
        "rich_tooltip": True,
        "y_axis_format": spec.get("y_format", "SMART_NUMBER"),
        "y_axis_title": spec.get("y_title", ""),
        "y_axis_title_position": "Left",
        "y_axis_title_margin": 30 if spec.get("y_title") else 15,
        "y_axis_bounds": spec.get("y_bounds", [None, None]),
        "truncateYAxis": bool(spec.get("y_bounds")),
        "x_axis_sort_asc": True,
        "zoomable": False,
        "show_value": bool(spec.get("show_values", False)),
        "color_scheme": "supersetColors",
    }
    if temporal:
        params["adhoc_filters"] = [
            {"clause": "WHERE", "comparator": "No filter", "expressionType": "SIMPLE", "operator": "TEMPORAL_RANGE",
             "subject": x},
            *params["adhoc_filters"],
        ]  # fmt: skip
        params.update(
            time_grain_sqla=spec.get("time_grain", "P1D"),
            x_axis_time_format=spec.get("x_format", "smart_date"),
            tooltipTimeFormat=spec.get("x_format", "smart_date"),
        )
    return params


def build_chart(
    key: str, spec: dict[str, Any], source: str, dataset_configs: dict[str, dict[str, Any]], catalog: Catalog,
    check_sql: SqlCheck, templates: Path, dashboard_key: str,
) -> dict[str, Any]:  # fmt: skip
    table = spec.get("dataset")
    if not table:
        raise SpecError(f"{source}: chart '{key}': no `dataset:`")
    if table not in dataset_configs:
        raise SpecError(f"{source}: chart '{key}': dataset '{table}' is not declared in bi/datasets.yaml")
    viz = spec.get("viz")
    if viz not in VIZ_TYPES:
        raise SpecError(f"{source}: chart '{key}': viz '{viz}' is not one of {sorted(VIZ_TYPES)}")
    ctx = ChartContext(
        source, key, table, catalog[table], {m["metric_name"] for m in dataset_configs[table]["metrics"]}, check_sql
    )
    try:
        if viz == "cards":
            params = _cards_params(ctx, spec, templates)
        elif viz == "table":
            params = _table_params(ctx, spec)
        else:
            params = _timeseries_params(ctx, spec)
    except KeyError as exc:
        raise SpecError(f"{source}: chart '{key}': `{exc.args[0]}:` is required for a {viz} chart") from exc
    params.update(viz_type=VIZ_TYPES[viz], extra_form_data={}, dashboards=[], annotation_layers=[])
    for raw_key, value in (spec.get("superset") or {}).items():  # escape hatch: any other Superset param
        params[raw_key] = value
    return {
        "slice_name": spec.get("title", key),
        "description": spec.get("description"),
        "certified_by": None,
        "certification_details": None,
        "viz_type": VIZ_TYPES[viz],
        "params": params,
        "query_context": None,
        "cache_timeout": None,
        "uuid": stable_uuid("chart", f"{dashboard_key}/{key}"),
        "version": BUNDLE_VERSION,
        "dataset_uuid": dataset_configs[table]["uuid"],
        "is_managed_externally": True,
        "external_url": source,
    }


# --------------------------------------------------------------------------- dashboards
def _position(
    title: str, rows: list[Any], charts: dict[str, dict[str, Any]], notes: dict[str, str], source: str,
    chart_heights: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"children": ["GRID_ID"], "id": "ROOT_ID", "type": "ROOT"},
        "HEADER_ID": {"id": "HEADER_ID", "meta": {"text": title}, "type": "HEADER"},
        "GRID_ID": {"children": [], "id": "GRID_ID", "parents": ["ROOT_ID"], "type": "GRID"},
    }
    chart_ids = {key: i + 1 for i, key in enumerate(charts)}
    for r, row in enumerate(rows):
        row_id = f"ROW-{r + 1}"
        items = row.items() if isinstance(row, dict) else [next(iter(i.items())) for i in row]
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "children": [],
            "id": row_id,
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
            "parents": ["ROOT_ID", "GRID_ID"],
            "type": "ROW",
        }
        if sum(width for _, width in items) > 12:
            raise SpecError(f"{source}: layout row {r + 1} is wider than 12 columns")
        for key, width in items:
            parents = ["ROOT_ID", "GRID_ID", row_id]
            if key in charts:
                item_id = f"CHART-{key}"
                meta = {
                    "chartId": chart_ids[key],
                    "uuid": charts[key]["uuid"],
                    "sliceName": charts[key]["slice_name"],
                    "width": width,
                    "height": chart_heights[key],
                }
                position[item_id] = {"children": [], "id": item_id, "meta": meta, "parents": parents, "type": "CHART"}
            elif key in notes:
                item_id = f"MARKDOWN-{key}"
                meta = {"code": notes[key], "width": width, "height": chart_heights.get(key, 30)}
                position[item_id] = {
                    "children": [], "id": item_id, "meta": meta, "parents": parents, "type": "MARKDOWN",
                }  # fmt: skip
            else:
                raise SpecError(f"{source}: layout names '{key}', which is neither a chart nor a note of this file")
            position[row_id]["children"].append(item_id)
    placed = {k.split("-", 1)[1] for k in position if k.startswith(("CHART-", "MARKDOWN-"))}
    unplaced = sorted(set(charts) - placed)
    if unplaced:
        raise SpecError(f"{source}: chart(s) {', '.join(unplaced)} are defined but not placed in `layout:`")
    return position


def _native_filters(
    spec: dict[str, Any], source: str, dataset_configs: dict[str, dict[str, Any]], catalog: Catalog
) -> list[dict[str, Any]]:
    out = []
    for key, flt in (spec.get("filters") or {}).items():
        table, column = flt["dataset"], flt["column"]
        if table not in dataset_configs:
            raise SpecError(f"{source}: filter '{key}': dataset '{table}' is not declared in bi/datasets.yaml")
        if column not in catalog[table]:
            raise SpecError(f"{source}: filter '{key}': column '{column}' is not in {SCHEMA}.{table}")
        out.append(
            {
                "id": f"NATIVE_FILTER-{key}",
                "name": flt.get("label", key),
                "filterType": "filter_select",
                "type": "NATIVE_FILTER",
                "targets": [{"column": {"name": column}, "datasetUuid": dataset_configs[table]["uuid"]}],
                "controlValues": {
                    "enableEmptyFilter": bool(flt.get("required", False)),
                    "defaultToFirstItem": bool(flt.get("first_by_default", False)),
                    "multiSelect": bool(flt.get("multiple", False)),
                    "searchAllOptions": False,
                    "inverseSelection": False,
                },
                "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
                # charts wait for the first value instead of loading unfiltered first
                "requiredFirst": bool(flt.get("first_by_default", False)),
                "cascadeParentIds": [],
                # no chartsInScope: Superset works it out from the scope (every chart) on load
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                "description": flt.get("description", ""),
            }
        )
    return out


def build_dashboard(
    path: Path, dataset_configs: dict[str, dict[str, Any]], catalog: Catalog, check_sql: SqlCheck, templates: Path
) -> tuple[DashboardInfo, dict[str, str]]:
    source = _rel(path)
    spec = _load_yaml(path)
    key = path.stem
    for required in ("title", "layout"):
        if required not in spec:
            raise SpecError(f"{source}: `{required}:` is required")
    charts = {
        ck: build_chart(ck, cs, source, dataset_configs, catalog, check_sql, templates, key)
        for ck, cs in (spec.get("charts") or {}).items()
    }
    notes = {nk: (ns["text"] if isinstance(ns, dict) else ns) for nk, ns in (spec.get("notes") or {}).items()}
    heights = {ck: int((cs or {}).get("height", 50)) for ck, cs in (spec.get("charts") or {}).items()}
    heights.update(
        {nk: int(ns.get("height", 30)) for nk, ns in (spec.get("notes") or {}).items() if isinstance(ns, dict)}
    )
    position = _position(spec["title"], spec["layout"], charts, notes, source, heights)
    dashboard_uuid = stable_uuid("dashboard", key)
    metadata = {
        "native_filter_configuration": _native_filters(spec, source, dataset_configs, catalog),
        "color_scheme": "supersetColors",
        "refresh_frequency": int(spec.get("refresh_seconds", 0)),
        "timed_refresh_immune_slices": [],
        "expanded_slices": {},
        "label_colors": spec.get("colors") or {},
        "shared_label_colors": [],
        "cross_filters_enabled": False,
        "chart_configuration": {},
        "global_chart_configuration": {"scope": {"rootPath": ["ROOT_ID"], "excluded": []}, "chartsInScope": []},
        "default_filters": "{}",
    }
    files = {
        f"charts/{key}__{ck}.yaml": _dump(chart) for ck, chart in charts.items()
    }  # fmt: skip
    files[f"dashboards/{key}.yaml"] = _dump(
        {
            "dashboard_title": spec["title"],
            "description": spec.get("description"),
            "css": spec.get("css", ""),
            "slug": spec.get("slug", key),
            "uuid": dashboard_uuid,
            "position": position,
            "metadata": metadata,
            "version": BUNDLE_VERSION,
            "published": True,
            "certified_by": None,
            "certification_details": None,
            "is_managed_externally": True,
            "external_url": source,
        }
    )
    info = DashboardInfo(
        key=key,
        title=spec["title"],
        slug=spec.get("slug", key),
        uuid=dashboard_uuid,
        roles=list(spec.get("roles") or []),
        datasets={cs["dataset"] for cs in (spec.get("charts") or {}).values()},
        charts={ck: c["uuid"] for ck, c in charts.items()},
        source=source,
    )
    return info, files


# --------------------------------------------------------------------------- the bundle
def build_bundle(
    catalog: Catalog,
    check_sql: SqlCheck,
    database_uri: str,
    spec_dir: Path = SPEC_DIR,
    database_name: str = "Entrepôt (marts)",
) -> Bundle:
    """Every dataset of datasets.yaml and every dashboards/*.yaml, checked and turned into bundle files."""
    database_uuid = stable_uuid("database", "warehouse")
    datasets_path = spec_dir / "datasets.yaml"
    dataset_configs = build_datasets(_load_yaml(datasets_path), _rel(datasets_path), catalog, check_sql, database_uuid)
    files = {
        "metadata.yaml": _dump(
            {"version": BUNDLE_VERSION, "type": "assets", "timestamp": datetime.now(UTC).isoformat()}
        ),
        DATABASE_FILE: _dump(
            {
                "database_name": database_name,
                "sqlalchemy_uri": database_uri,
                "cache_timeout": None,
                "expose_in_sqllab": True,
                "allow_run_async": False,
                "allow_ctas": False,
                "allow_cvas": False,
                "allow_dml": False,
                "allow_csv_upload": False,
                "extra": {"allows_virtual_table_explore": True, "schema_options": {"expand_rows": False}},
                "uuid": database_uuid,
                "version": BUNDLE_VERSION,
                "is_managed_externally": True,
                "external_url": "bi/superset_config.py",
            }
        ),
    }
    for table, config in dataset_configs.items():
        files[_dataset_file(table)] = _dump(config)
    dashboards = []
    for path in sorted((spec_dir / "dashboards").glob("*.yaml")):
        info, dashboard_files = build_dashboard(path, dataset_configs, catalog, check_sql, spec_dir / "templates")
        dashboards.append(info)
        files.update(dashboard_files)
    access_path = spec_dir / "access.yaml"
    access = _load_yaml(access_path) if access_path.exists() else {}
    return Bundle(
        files=files,
        dashboards=dashboards,
        datasets={t: c["uuid"] for t, c in dataset_configs.items()},
        access=access,
    )
