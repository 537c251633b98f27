"""The dashboards as code: superset/assets/ (an unzipped Superset export bundle) made ready to import.

The folder has the layout of a Superset export (`metadata.yaml`, `databases/`, `datasets/<database>/`,
`charts/`, `dashboards/`) and its files are export YAML, with a few conveniences that `prepare` expands so
that a dashboard can be written by hand:

- `uuid` may be left out: it is derived from the file's kind and name (stable across syncs).
- databases: the URI is always set to the published warehouse, opened read-only.
- datasets: only `table_name` + `schema` (or `sql` for a virtual dataset) are needed. Columns and types come
  from the published warehouse, descriptions from dbt's manifest, and the saved metrics of
  superset/metrics.yaml are added where the columns fit; anything the YAML sets wins.
- charts: `dataset: <dataset file name>` instead of `dataset_uuid`.
- dashboards: `layout:` (rows of chart file names) instead of `position`, and `filters:` (date range,
  select) instead of `metadata.native_filter_configuration`; a select filter applies to the charts whose
  dataset has its column.

It refuses datasets on raw/staging/intermediate tables and datasets exposing a person's e-mail or name.
"""

import copy
import io
import logging
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import jinja2.sandbox
import yaml

from orchestration.superset.catalog import (
    ALLOWED_SCHEMAS,
    Column,
    Relation,
    Warehouse,
    forbidden_references,
    is_pii,
    referenced_relations,
)

log = logging.getLogger(__name__)

BUNDLE_ROOT = "comptoir_assets"  # the folder inside the zip (Superset strips the first path component)
VERSION = "1.0.0"
UUID_NAMESPACE = uuid.UUID("6f1c1d2e-3b4a-5c6d-8e9f-0a1b2c3d4e5f")
MANAGED_BY = "Comptoir"
MANAGED_KEY = "managed_by"  # in a dataset's `extra` (datasets have no certified_by of their own)
MANAGED_DETAILS = "Managed as code in superset/assets/: changes made here are replaced at the next sync."
KINDS = ("databases", "datasets", "charts", "dashboards")
GRID_COLUMNS = 12
DEFAULT_CHART_HEIGHT = 50


class BundleError(ValueError):
    """The assets folder has a mistake; the message lists every one found."""


def stable_uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, f"{kind}:{name}"))


@dataclass
class Asset:
    kind: str  # databases | datasets | charts | dashboards
    path: str  # relative to the assets folder, e.g. "charts/overview_revenue.yaml"
    name: str  # file name without .yaml: how other files refer to it
    config: dict[str, Any]

    @property
    def uuid(self) -> str:
        return str(self.config["uuid"])


@dataclass
class Bundle:
    assets: list[Asset]

    def of(self, kind: str) -> list[Asset]:
        return [asset for asset in self.assets if asset.kind == kind]

    def by_name(self, kind: str) -> dict[str, Asset]:
        return {asset.name: asset for asset in self.of(kind)}

    def by_uuid(self, kind: str) -> dict[str, Asset]:
        return {asset.uuid: asset for asset in self.of(kind)}


def load_bundle(assets_dir: Path) -> Bundle:
    """Read every YAML file of the assets folder (uuids filled in, nothing else changed)."""
    assets: list[Asset] = []
    errors: list[str] = []
    for kind in KINDS:
        folder = assets_dir / kind
        for path in sorted(folder.rglob("*.yaml")) if folder.is_dir() else []:
            relative = path.relative_to(assets_dir).as_posix()
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(config, dict):
                errors.append(f"{relative}: not a YAML mapping")
                continue
            config.setdefault("uuid", stable_uuid(kind, path.stem))
            assets.append(Asset(kind, relative, path.stem, config))
    for kind in KINDS:
        seen: dict[str, str] = {}
        for asset in (a for a in assets if a.kind == kind):
            if asset.uuid in seen:
                errors.append(f"{asset.path}: uuid {asset.uuid} is also used by {seen[asset.uuid]}")
            seen[asset.uuid] = asset.path
        names = [a.name for a in assets if a.kind == kind]
        errors.extend(f"{kind}: two files are named {name}.yaml" for name in sorted({n for n in names
                                                                                   if names.count(n) > 1}))
    if errors:
        raise BundleError("\n".join(errors))
    return Bundle(assets)


@dataclass
class Context:
    """What the sync knows beyond the YAML: the published warehouse, dbt's manifest, the metric library."""

    published_path: Path
    manifest: dict[tuple[str, str], Relation]
    metrics: list[dict[str, Any]]
    as_of: date | None = None
    warehouse: Warehouse = field(init=False)

    def __post_init__(self) -> None:
        self.warehouse = Warehouse(self.published_path)


def load_metric_library(path: Path) -> list[dict[str, Any]]:
    return list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("metrics", []))


@dataclass
class Prepared:
    """The bundle ready to import, plus what roles, exposures and tests need to know about it."""

    files: dict[str, dict[str, Any]]  # path in the bundle -> YAML config
    dataset_columns: dict[str, list[str]]  # dataset uuid -> column names
    dashboard_datasets: dict[str, set[str]]  # dashboard uuid -> dataset uuids its charts and filters read
    dataset_relations: dict[str, list[tuple[str, str]]]  # dataset uuid -> (schema, table) it reads
    chart_datasets: dict[str, str]  # chart uuid -> dataset uuid
    as_of: date | None = None  # the warehouse's as-of date the default date ranges end at

    def to_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, config in sorted(self.files.items()):
                archive.writestr(f"{BUNDLE_ROOT}/{path}", yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        return buffer.getvalue()

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        return {path: config for path, config in self.files.items() if path.startswith(f"{kind}/")}


# --- databases ------------------------------------------------------------------------------------


def prepare_database(config: dict[str, Any], context: Context) -> dict[str, Any]:
    """Point the connection at the published warehouse, read-only, whatever the YAML says."""
    config = copy.deepcopy(config)
    config["sqlalchemy_uri"] = f"duckdb:///{context.published_path.resolve()}"
    extra = config.get("extra") or {}
    engine_params = extra.setdefault("engine_params", {})
    engine_params.setdefault("connect_args", {})["read_only"] = True
    config["extra"] = extra
    for key, default in {
        "cache_timeout": None, "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False,
        "allow_cvas": False, "allow_dml": False, "allow_file_upload": False, "impersonate_user": False,
        "configuration_method": "sqlalchemy_form", "version": VERSION,
    }.items():
        config.setdefault(key, default)
    config["allow_dml"] = False
    config["allow_file_upload"] = False
    return config


# --- datasets -------------------------------------------------------------------------------------


def _library_metrics(columns: set[str], library: list[dict[str, Any]]) -> list[dict[str, Any]]:
    metrics = []
    for metric in library:
        variant = next((v for v in metric.get("variants", []) if set(v["requires"]) <= columns), None)
        if variant is None:
            continue
        metrics.append({
            "metric_name": metric["metric_name"],
            "verbose_name": metric.get("verbose_name"),
            "metric_type": None,
            "expression": " ".join(str(variant["expression"]).split()),
            "description": metric.get("description"),
            "d3format": metric.get("d3format"),
            "currency": None,
            "extra": None,
            "warning_text": None,
        })
    return metrics


def render_template(sql: str, *, from_dttm: str | None = None, to_dttm: str | None = None,
                    filters: dict[str, list[Any]] | None = None, columns: list[Any] | None = None) -> str:
    """A virtual dataset's Jinja SQL as Superset runs it: by default with no filter and no time range (for its
    columns), or for a chart's query (its range bounds as ISO timestamps, its filters' chosen values by column,
    its columns as the chart data API gives them, e.g. a time axis `{"sqlExpression": "order_date",
    "columnType": "BASE_AXIS", "timeGrain": "P1M"}`).

    Superset (ENABLE_TEMPLATE_PROCESSING) gives templates filter_values(), get_filters(), url_param(),
    from_dttm / to_dttm, the query's columns, group-by, metrics and time grain, and the `where_in` filter.
    """
    if "{{" not in sql and "{%" not in sql:
        return sql
    chosen = filters or {}
    environment = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    environment.filters["where_in"] = lambda values, mark="'": "(" + ", ".join(
        mark + str(value).replace(mark, mark + mark) + mark for value in values) + ")"
    return environment.from_string(sql).render(
        filter_values=lambda column, default=None, remove_filter=False: list(chosen.get(column) or (
            [default] if default is not None else [])),
        get_filters=lambda *args, **kwargs: [],
        url_param=lambda param=None, default=None, *args, **kwargs: default,
        get_time_filter=lambda *args, **kwargs: {"from_expr": from_dttm, "to_expr": to_dttm, "time_range": None},
        current_username=lambda *args, **kwargs: None, current_user_id=lambda *args, **kwargs: None,
        current_user_email=lambda *args, **kwargs: None, cache_key_wrapper=lambda value: value,
        from_dttm=from_dttm, to_dttm=to_dttm, columns=columns, groupby=None, metrics=None, time_grain=None,
        filter=None,
    )


def _merge(computed: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`computed` with every non-null value of `given` on top (an export's nulls do not erase descriptions)."""
    return {**computed, **{key: value for key, value in given.items() if value is not None}}


def prepare_dataset(
    asset: Asset, context: Context, database_uuid: str, errors: list[str]
) -> tuple[dict[str, Any], list[Column], list[tuple[str, str]]]:
    config = copy.deepcopy(asset.config)
    sql = config.get("sql")
    table = config.get("table_name") or asset.name
    config["table_name"] = table
    relation: Relation | None = None
    joined: list[Relation] = []  # a virtual dataset's relations, in the order its SQL names them
    columns: list[Column] = []
    if sql:
        try:
            sql = render_template(sql)  # what the SQL reads and returns when no dashboard filter is set
        except jinja2.TemplateError as error:
            errors.append(f"{asset.path}: its Jinja does not render: {error}")
            sql = ""
        forbidden = forbidden_references(sql)
        if forbidden:
            errors.append(f"{asset.path}: reads schema(s) {', '.join(forbidden)}; dashboards read marts and ml only")
        relations = referenced_relations(sql)
        outside = sorted({schema for schema, _ in relations if schema not in ALLOWED_SCHEMAS})
        if outside:
            errors.append(f"{asset.path}: reads schema(s) {', '.join(outside)}; dashboards read marts and ml only")
        joined = [context.manifest[r] for r in relations if r in context.manifest]
        if len(relations) == 1:
            relation = context.manifest.get(relations[0])
        config["schema"] = config.get("schema") or (relations[0][0] if relations else ALLOWED_SCHEMAS[0])
        try:
            columns = context.warehouse.query_columns(sql) if sql else []
        except duckdb.Error as error:  # the YAML's SQL is wrong: report it with the others
            errors.append(f"{asset.path}: its SQL does not run on the published warehouse: {error}")
    else:
        schema = config.get("schema")
        if schema not in ALLOWED_SCHEMAS:
            errors.append(f"{asset.path}: schema {schema!r} is not one of {', '.join(ALLOWED_SCHEMAS)}")
        relations = [(str(schema), table)]
        relation = context.manifest.get((str(schema), table))
        try:
            columns = context.warehouse.columns(str(schema), table)
        except (LookupError, FileNotFoundError) as error:
            errors.append(f"{asset.path}: {error}")
    pii = [column.name for column in columns if is_pii(column.name)]
    if pii:
        how = "leave them out of its select list" if sql else (
            "make it a virtual dataset (`sql: select <columns> from ...`) without them")
        errors.append(f"{asset.path}: exposes personal column(s) {', '.join(pii)}: {how}")

    given_columns = {c["column_name"]: c for c in config.get("columns") or []}
    # a column takes the description of the first relation that describes it (a join's columns too)
    descriptions: dict[str, str] = {}
    for described in ([relation] if relation else joined):
        for name, text in described.columns.items():
            if text and name not in descriptions:
                descriptions[name] = text
    merged_columns = []
    for column in columns:
        computed = {
            "column_name": column.name, "verbose_name": None, "is_dttm": column.temporal, "is_active": True,
            "type": column.type, "advanced_data_type": None, "groupby": True, "filterable": True,
            "expression": None, "description": descriptions.get(column.name) or None, "python_date_format": None,
            "datetime_format": None, "extra": None,
        }
        merged_columns.append(_merge(computed, given_columns.pop(column.name, {})))
    for name, given in given_columns.items():  # calculated columns exist in the YAML only
        if not given.get("expression"):
            errors.append(f"{asset.path}: column {name} is neither in the table nor calculated (no expression)")
            continue
        merged_columns.append(_merge({"column_name": name, "is_active": True, "groupby": True, "filterable": True,
                                      "is_dttm": False, "type": None}, given))
    config["columns"] = merged_columns

    names = {column.name for column in columns} | set(given_columns)
    given_metrics = list(config.get("metrics") or [])
    defined = {metric["metric_name"] for metric in given_metrics}
    config["metrics"] = given_metrics + [
        metric for metric in _library_metrics(names, context.metrics) if metric["metric_name"] not in defined
    ]
    temporal = [column.name for column in columns if column.temporal]
    defaults: dict[str, Any] = {
        "main_dttm_col": temporal[0] if temporal else None, "description": relation.description if relation else None,
        "default_endpoint": None, "offset": 0, "cache_timeout": None, "catalog": None, "sql": None, "params": None,
        "template_params": None, "filter_select_enabled": True, "fetch_values_predicate": None,
        "extra": {"certification": {"certified_by": "dbt", "details": relation.dbt_ref}} if relation else {},
        "normalize_columns": False, "always_filter_main_dttm": False, "version": VERSION,
        "database_uuid": database_uuid,
    }
    config = _merge(defaults, config)
    config["extra"] = {**(config.get("extra") or {}), MANAGED_KEY: MANAGED_BY}  # what the sync may prune
    config.pop("folders", None)
    config.pop("currency_code_column", None)
    return config, columns, relations


# --- charts ---------------------------------------------------------------------------------------


def prepare_chart(asset: Asset, datasets: dict[str, Asset], errors: list[str]) -> dict[str, Any]:
    config = copy.deepcopy(asset.config)
    dataset_name = config.pop("dataset", None)
    if dataset_name is not None:
        if dataset_name not in datasets:
            errors.append(f"{asset.path}: no dataset file named {dataset_name}.yaml")
        else:
            config["dataset_uuid"] = datasets[dataset_name].uuid
    if "dataset_uuid" not in config:
        errors.append(f"{asset.path}: names no dataset (`dataset: <file name>` or `dataset_uuid`)")
    params = config.setdefault("params", {})
    if "viz_type" not in config and "viz_type" in params:
        config["viz_type"] = params["viz_type"]
    if "viz_type" not in config:
        errors.append(f"{asset.path}: no viz_type")
    params["viz_type"] = config.get("viz_type")
    config.setdefault("slice_name", asset.name.replace("_", " ").capitalize())
    defaults = {"description": None, "certified_by": MANAGED_BY, "certification_details": MANAGED_DETAILS,
                "query_context": None, "cache_timeout": None, "version": VERSION}
    return _merge(defaults, config)


# --- dashboards -----------------------------------------------------------------------------------


def _expand_layout(
    asset: Asset, title: str, charts: dict[str, Asset], errors: list[str]
) -> tuple[dict[str, Any], dict[str, int]]:
    """`layout:` rows -> Superset's `position`; also the local chart ids it used (chart uuid -> id)."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"children": ["GRID_ID"], "id": "ROOT_ID", "type": "ROOT"},
        "GRID_ID": {"children": [], "id": "GRID_ID", "parents": ["ROOT_ID"], "type": "GRID"},
        "HEADER_ID": {"id": "HEADER_ID", "meta": {"text": title}, "type": "HEADER"},
    }
    chart_ids: dict[str, int] = {}
    for row_number, row in enumerate(asset.config.get("layout") or [], start=1):
        row_id = f"ROW-{row_number}"
        position["GRID_ID"]["children"].append(row_id)
        items = row if isinstance(row, list) else [row]
        widths = [item.get("width") if isinstance(item, dict) else None for item in items]
        free = GRID_COLUMNS - sum(w for w in widths if w)
        unsized = sum(1 for w in widths if not w)
        children = []
        for index, item in enumerate(items, start=1):
            spec = {"chart": item} if isinstance(item, str) else dict(item)
            width = spec.get("width") or max(1, free // max(unsized, 1))
            height = spec.get("height") or DEFAULT_CHART_HEIGHT
            parents = ["ROOT_ID", "GRID_ID", row_id]
            if "markdown" in spec:
                node_id = f"MARKDOWN-{row_number}-{index}"
                position[node_id] = {"children": [], "id": node_id, "parents": parents, "type": "MARKDOWN",
                                     "meta": {"code": spec["markdown"], "width": width, "height": height}}
            else:
                name = spec.get("chart")
                chart = charts.get(str(name))
                if chart is None:
                    errors.append(f"{asset.path}: layout row {row_number} names no chart file {name}.yaml")
                    continue
                chart_id = chart_ids.setdefault(chart.uuid, len(chart_ids) + 1)
                node_id = f"CHART-{chart.name}"
                position[node_id] = {"children": [], "id": node_id, "parents": parents, "type": "CHART",
                                     "meta": {"chartId": chart_id, "height": height, "width": width,
                                              "sliceName": chart.config.get("slice_name"), "uuid": chart.uuid}}
            children.append(node_id)
        position[row_id] = {"children": children, "id": row_id, "type": "ROW", "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
    return position, chart_ids


def default_time_range(as_of: date | None, months: int, months_after: int = 0) -> str:
    """The `months` calendar months up to and including the as-of date's month, plus `months_after` months after
    it (a forecast's horizon); "No filter" without a date."""
    if as_of is None:
        return "No filter"
    as_of_month = as_of.year * 12 + as_of.month  # the month after the as-of month, as a month count from year 0
    start_month = as_of_month - months
    end_month = as_of_month + months_after
    start = date(start_month // 12, start_month % 12 + 1, 1)
    end = date(end_month // 12, end_month % 12 + 1, 1)
    return f"{start.isoformat()} : {end.isoformat()}"


def _expand_filters(
    asset: Asset,
    chart_ids: dict[str, int],
    chart_datasets: dict[str, str],
    dataset_columns: dict[str, list[str]],
    datasets: dict[str, Asset],
    context: Context,
    errors: list[str],
) -> list[dict[str, Any]]:
    """`filters:` -> native_filter_configuration, scoped to the charts whose dataset has the column."""
    native = []
    for number, spec in enumerate(asset.config.get("filters") or [], start=1):
        kind = spec.get("type", "select")
        name = spec.get("name") or f"Filter {number}"
        filter_id = f"NATIVE_FILTER-{spec.get('id') or number}"
        if kind == "time":
            # `default`: a Superset time range as it stands ("No filter", "Last week"), for data dated by the
            # clock rather than by the warehouse's as-of date (the pipeline's own record)
            value = str(spec["default"]) if "default" in spec else default_time_range(
                context.as_of, int(spec.get("default_months", 12)), int(spec.get("months_after", 0)))
            in_scope = list(chart_ids)
            native.append({
                "id": filter_id, "name": name, "filterType": "filter_time", "type": "NATIVE_FILTER",
                "targets": [{}], "controlValues": {"enableEmptyFilter": False},
                "defaultDataMask": {"extraFormData": {"time_range": value}, "filterState": {"value": value},
                                    "ownState": {}},
                "cascadeParentIds": [], "description": spec.get("description", ""),
                "scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                "chartsInScope": sorted(chart_ids.values()), "tabsInScope": [],
            })
            continue
        if kind not in ("select", "range"):
            errors.append(f"{asset.path}: filter {name!r} has type {kind!r}; use time, select or range")
            continue
        dataset = datasets.get(str(spec.get("dataset")))
        column = spec.get("column")
        if dataset is None or not column:
            errors.append(f"{asset.path}: filter {name!r} needs `dataset: <dataset file name>` and `column`")
            continue
        if column not in dataset_columns.get(dataset.uuid, []):
            errors.append(f"{asset.path}: filter {name!r}: {dataset.name} has no column {column}")
            continue
        in_scope = [uuid_ for uuid_ in chart_ids if column in dataset_columns.get(chart_datasets.get(uuid_, ""), [])]
        excluded = sorted(chart_ids[u] for u in chart_ids if u not in in_scope)
        scope = {"scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
                 "chartsInScope": sorted(chart_ids[u] for u in in_scope), "tabsInScope": []}
        if kind == "range":
            single, default = spec.get("single"), spec.get("default")
            if single not in (None, *_SINGLE_VALUE):
                errors.append(f"{asset.path}: filter {name!r}: `single` is one of {', '.join(_SINGLE_VALUE)}")
            elif single is None and default is not None and not (isinstance(default, list) and len(default) == 2):
                errors.append(f"{asset.path}: filter {name!r}: a from-to range's default is [from, to]")
            else:
                native.append(_range_filter(filter_id, name, spec, dataset.uuid, scope))
            continue
        # `default`: a value (or a list, for a multi-select) chosen when the dashboard opens; `required: true`
        # keeps the filter from being emptied (Superset's "Filter value is required")
        multi = bool(spec.get("multi", True))
        default = spec.get("default")
        values = [] if default is None else list(default) if isinstance(default, list) else [default]
        if len(values) > 1 and not multi:
            errors.append(f"{asset.path}: filter {name!r} is single-select but has {len(values)} defaults")
            continue
        default_mask: dict[str, Any] = {"extraFormData": {}, "filterState": {}, "ownState": {}}
        if values:
            default_mask = {"extraFormData": {"filters": [{"col": column, "op": "IN", "val": values}]},
                            "filterState": {"value": values, "label": ", ".join(str(v) for v in values)},
                            "ownState": {}}
        native.append({
            "id": filter_id, "name": name, "filterType": "filter_select", "type": "NATIVE_FILTER",
            "targets": [{"column": {"name": column}, "datasetUuid": dataset.uuid}],
            "controlValues": {"enableEmptyFilter": bool(spec.get("required", False)), "defaultToFirstItem": False,
                              "multiSelect": multi, "searchAllOptions": False, "inverseSelection": False},
            "defaultDataMask": default_mask,
            "cascadeParentIds": [], "description": spec.get("description", ""), **scope,
        })
    return native


# Superset's range filter: `single: max` asks for an upper bound only ("x <= N", e.g. the top N by a rank column),
# `single: min` for a lower bound; without it, a from-to range. `default` is N, or [from, to] for a range.
_SINGLE_VALUE = {"min": 0, "exact": 1, "max": 2}


def _range_filter(filter_id: str, name: str, spec: dict[str, Any], dataset_uuid: str,
                  scope: dict[str, Any]) -> dict[str, Any]:
    column = spec["column"]
    single = spec.get("single")
    default = spec.get("default")
    if single == "max":
        value = [None, default] if default is not None else None
    elif single == "min":
        value = [default, None] if default is not None else None
    elif single == "exact":  # Superset filters `==` when both bounds are equal
        value = [default, default] if default is not None else None
    else:
        value = list(default) if default is not None else None
    bounds = [] if value is None else [
        {"col": column, "op": op, "val": bound} for op, bound in zip((">=", "<="), value, strict=True)
        if bound is not None]
    control_values: dict[str, Any] = {"enableEmptyFilter": False}
    if single is not None:
        control_values["enableSingleValue"] = _SINGLE_VALUE[single]
    return {
        "id": filter_id, "name": name, "filterType": "filter_range", "type": "NATIVE_FILTER",
        "targets": [{"column": {"name": column}, "datasetUuid": dataset_uuid}],
        "controlValues": control_values,
        "defaultDataMask": {"extraFormData": {"filters": bounds} if bounds else {},
                            "filterState": {"value": value} if value is not None else {}, "ownState": {}},
        "cascadeParentIds": [], "description": spec.get("description", ""), **scope,
    }


def prepare_dashboard(
    asset: Asset,
    charts: dict[str, Asset],
    chart_datasets: dict[str, str],
    dataset_columns: dict[str, list[str]],
    datasets: dict[str, Asset],
    context: Context,
    errors: list[str],
) -> dict[str, Any]:
    config = copy.deepcopy(asset.config)
    title = config.setdefault("dashboard_title", asset.name.replace("_", " ").capitalize())
    config.setdefault("slug", asset.name.replace("_", "-"))
    layout = config.pop("layout", None)
    filters = config.pop("filters", None)
    metadata = config.setdefault("metadata", {})
    if layout is not None:
        position, chart_ids = _expand_layout(asset, title, charts, errors)
        config["position"] = position
    else:
        position = config.get("position") or {}
        chart_ids = {node["meta"]["uuid"]: node["meta"]["chartId"] for node in position.values()
                     if isinstance(node, dict) and node.get("type") == "CHART"}
    if filters is not None:
        metadata["native_filter_configuration"] = _expand_filters(
            asset, chart_ids, chart_datasets, dataset_columns, datasets, context, errors)
    for key, default in {
        "color_scheme": "supersetColors", "refresh_frequency": 0, "expanded_slices": {}, "label_colors": {},
        "timed_refresh_immune_slices": [], "cross_filters_enabled": False, "default_filters": "{}",
        "chart_configuration": {}, "shared_label_colors": [], "color_scheme_domain": [],
        "native_filter_configuration": [],
        "global_chart_configuration": {"scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                                       "chartsInScope": sorted(chart_ids.values())},
    }.items():
        metadata.setdefault(key, default)
    defaults = {"description": None, "css": None, "certified_by": MANAGED_BY, "certification_details": MANAGED_DETAILS,
                "published": True, "theme_uuid": None, "version": VERSION}
    return _merge(defaults, config)


def chart_uuids(position: dict[str, Any]) -> list[str]:
    return [node["meta"]["uuid"] for node in position.values()
            if isinstance(node, dict) and node.get("type") == "CHART" and "uuid" in node.get("meta", {})]


# --- the whole bundle -----------------------------------------------------------------------------


def prepare(bundle: Bundle, context: Context) -> Prepared:
    """Every file expanded, enriched and checked; raises BundleError listing every mistake found."""
    errors: list[str] = []
    files: dict[str, dict[str, Any]] = {
        "metadata.yaml": {"version": VERSION, "type": "assets", "timestamp": datetime.now(UTC).isoformat()},
    }
    databases = bundle.of("databases")
    if len(databases) != 1:
        errors.append(f"databases/: expected exactly one database file, found {len(databases)}")
    for asset in databases:
        files[asset.path] = prepare_database(asset.config, context)
    database_uuid = databases[0].uuid if databases else ""

    datasets = bundle.by_name("datasets")
    dataset_columns: dict[str, list[str]] = {}
    dataset_relations: dict[str, list[tuple[str, str]]] = {}
    for asset in datasets.values():
        config, _, relations = prepare_dataset(asset, context, database_uuid, errors)
        known = {d.uuid for d in databases}
        if config.get("database_uuid") not in known:
            errors.append(f"{asset.path}: database_uuid {config.get('database_uuid')} is not in databases/")
        files[asset.path] = config
        dataset_columns[asset.uuid] = [column["column_name"] for column in config["columns"]]
        dataset_relations[asset.uuid] = relations

    charts = bundle.by_name("charts")
    chart_datasets: dict[str, str] = {}
    dataset_uuids = {asset.uuid for asset in datasets.values()}
    for asset in charts.values():
        config = prepare_chart(asset, datasets, errors)
        if config.get("dataset_uuid") and config["dataset_uuid"] not in dataset_uuids:
            errors.append(f"{asset.path}: dataset_uuid {config['dataset_uuid']} is not in datasets/")
        files[asset.path] = config
        chart_datasets[asset.uuid] = str(config.get("dataset_uuid"))

    dashboard_datasets: dict[str, set[str]] = {}
    slugs: dict[str, str] = {}
    for asset in bundle.of("dashboards"):
        config = prepare_dashboard(asset, charts, chart_datasets, dataset_columns, datasets, context, errors)
        if config["slug"] in slugs:
            errors.append(f"{asset.path}: slug {config['slug']} is also used by {slugs[config['slug']]}")
        slugs[config["slug"]] = asset.path
        files[asset.path] = config
        used = {chart_datasets[u] for u in chart_uuids(config["position"]) if u in chart_datasets}
        missing = [u for u in chart_uuids(config["position"]) if u not in chart_datasets]
        errors.extend(f"{asset.path}: chart uuid {u} is not in charts/" for u in missing)
        for native in config["metadata"].get("native_filter_configuration", []):
            used.update(t["datasetUuid"] for t in native.get("targets", []) if t.get("datasetUuid"))
        dashboard_datasets[asset.uuid] = used
    if errors:
        raise BundleError("\n".join(errors))
    return Prepared(files, dataset_columns, dashboard_datasets, dataset_relations, chart_datasets, context.as_of)
