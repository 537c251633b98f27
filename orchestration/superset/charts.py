"""Ask Superset for a chart's data through the chart data API, as its dashboard would.

Superset's browser code turns a chart's saved parameters into a query context. A chart saved from the
Explore page stores that query context; a chart written as YAML has none until someone opens it there.
`chart_query_context` builds an equivalent one from the parameters (metrics, x-axis with its time grain,
group-by, filters, row limit) for the chart types the dashboards use, so that every chart can be checked
without a browser: it runs the same SQL against the same dataset. The browser test covers the rendering.
"""

import json
from dataclasses import dataclass
from typing import Any

from orchestration.superset.client import SupersetClient, SupersetError


@dataclass(frozen=True)
class ChartData:
    chart_id: int
    name: str
    rows: int
    error: str | None
    data: list[dict[str, Any]]


def _filters(adhoc_filters: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    filters: list[dict[str, Any]] = []
    where: list[str] = []
    having: list[str] = []
    for adhoc in adhoc_filters:
        if adhoc.get("expressionType") == "SQL":
            (having if adhoc.get("clause") == "HAVING" else where).append(f"({adhoc['sqlExpression']})")
        else:
            item = {"col": adhoc["subject"], "op": adhoc["operator"]}
            if "comparator" in adhoc:
                item["val"] = adhoc["comparator"]
            filters.append(item)
    extras = {}
    if where:
        extras["where"] = " AND ".join(where)
    if having:
        extras["having"] = " AND ".join(having)
    return filters, extras


def chart_query_context(params: dict[str, Any], datasource_id: int, time_range: str | None = None,
                        force: bool = False, filters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The chart data request for a chart's saved parameters (`time_range` replaces a dashboard's date filter;
    `filters`, e.g. `{"col": "country_name", "op": "IN", "val": ["France"]}`, are added as a dashboard's
    select and range filters are)."""
    params = dict(params)
    metrics = list(params.get("metrics") or [])
    if params.get("metric"):
        metrics.append(params["metric"])
    # a percentage metric that is also a metric is queried once, as the table's buildQuery does
    metrics.extend(m for m in params.get("percent_metrics") or [] if m not in metrics)
    columns: list[Any] = []
    if params.get("viz_type") == "world_map" and params.get("entity"):  # legacy chart: one row per country
        columns.append(params["entity"])
    if params.get("x_axis"):
        columns.append({"columnType": "BASE_AXIS", "sqlExpression": params["x_axis"], "label": params["x_axis"],
                        "expressionType": "SQL", "timeGrain": params.get("time_grain_sqla")})
    columns.extend(params.get("groupby") or [])
    raw = params.get("query_mode") == "raw"
    if raw:
        columns, metrics = list(params.get("all_columns") or []), []
    adhoc_filters = list(params.get("adhoc_filters") or [])
    if time_range is not None:
        adhoc_filters = [dict(f, comparator=time_range) if f.get("operator") == "TEMPORAL_RANGE" else f
                         for f in adhoc_filters]
    query_filters, extras = _filters(adhoc_filters)
    query_filters.extend(filters or [])
    query = {
        "metrics": metrics, "columns": columns, "filters": query_filters, "extras": extras,
        "row_limit": int(params.get("row_limit") or 10000), "orderby": [], "series_limit": 0,
    }
    # the browser's order, which decides the rows a row limit keeps ("top N" charts): the chart's "sort by"
    # metric, else the first metric; descending unless order_desc is false
    sort_by = params.get("timeseries_limit_metric") or params.get("series_limit_metric")
    if metrics and sort_by:
        query["orderby"] = [[sort_by, not params.get("order_desc", True)]]
    elif metrics and (not params.get("x_axis") or params.get("order_desc")):
        query["orderby"] = [[metrics[0], False]]
    if raw:  # as the table's buildQuery: plain rows (metrics [] would GROUP BY every column), in the saved order
        query["metrics"] = None
        query["orderby"] = [json.loads(o) if isinstance(o, str) else o for o in params.get("order_by_cols") or []]
    return {
        "datasource": {"id": datasource_id, "type": "table"}, "force": force, "queries": [query],
        "form_data": params, "result_format": "json", "result_type": "full",
    }


def query_chart(client: SupersetClient, chart_id: int, time_range: str | None = None,
                force: bool = False, filters: list[dict[str, Any]] | None = None) -> ChartData:
    """One chart's data through POST /api/v1/chart/data; an error is returned, not raised."""
    chart = client.get(f"/api/v1/chart/{chart_id}")["result"]
    params = json.loads(chart.get("params") or "{}")
    datasource_id = int(params.get("datasource", "0__table").split("__")[0])
    payload = chart_query_context(params, datasource_id, time_range, force, filters)
    try:
        answer = client.chart_data(payload)
    except SupersetError as error:
        return ChartData(chart_id, chart["slice_name"], 0, str(error), [])
    result = answer["result"][0]
    return ChartData(chart_id, chart["slice_name"], int(result.get("rowcount") or 0), result.get("error"),
                     list(result.get("data") or []))
