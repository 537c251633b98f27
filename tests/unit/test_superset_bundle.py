"""The dashboards-as-code bundle: the repository's assets are consistent, and `prepare` expands, enriches
and guards a bundle (checked here on a small hand-made warehouse; the real one is covered end to end)."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from orchestration.superset.bundle import (
    BUNDLE_ROOT,
    MANAGED_BY,
    MANAGED_KEY,
    BundleError,
    Context,
    chart_uuids,
    default_time_range,
    load_bundle,
    load_metric_library,
    prepare,
    render_template,
    stable_uuid,
)
from orchestration.superset.catalog import (
    ALLOWED_SCHEMAS,
    forbidden_references,
    is_pii,
    load_manifest,
    referenced_relations,
)
from orchestration.superset.exposures import EXPOSURES_FILE, render
from orchestration.superset.sync import ASSETS_DIR, METRICS_FILE

# --- the repository's bundle ----------------------------------------------------------------------


def test_repository_bundle_is_consistent() -> None:
    bundle = load_bundle(ASSETS_DIR)
    assert len(bundle.of("databases")) == 1
    datasets = bundle.by_name("datasets")
    charts = bundle.by_name("charts")
    for chart in charts.values():
        assert chart.config.get("dataset") in datasets or chart.config.get("dataset_uuid") in bundle.by_uuid(
            "datasets"), chart.path
        assert chart.config.get("viz_type"), chart.path
    for dataset in datasets.values():
        if dataset.config.get("sql"):
            assert not forbidden_references(dataset.config["sql"]), dataset.path
        else:
            assert dataset.config["schema"] in ALLOWED_SCHEMAS, dataset.path
    used: set[str] = set()
    for dashboard in bundle.of("dashboards"):
        for row in dashboard.config.get("layout") or []:
            for item in row:
                name = item if isinstance(item, str) else item.get("chart", item.get("markdown") and "")
                if name:
                    assert name in charts, f"{dashboard.path}: {name}"
                    used.add(name)
    assert set(charts) <= used, f"charts on no dashboard: {sorted(set(charts) - used)}"
    assert "overview" in {d.name for d in bundle.of("dashboards")}


def test_dbt_exposures_match_the_dashboards() -> None:
    expected = render(load_bundle(ASSETS_DIR))
    assert EXPOSURES_FILE.read_text(encoding="utf-8") == expected, (
        "dbt_project/models/exposures.yml is out of date: run `.venv/bin/python -m orchestration.superset.exposures`"
    )
    exposures = yaml.safe_load(expected)["exposures"]
    overview = next(e for e in exposures if e["name"] == "overview")
    # sales_counts' sums, and the sale orders it reads for several categories at once
    assert {"ref('mart_serving_sales_daily')", "ref('mart_serving_distinct_counts')",
            "ref('mart_serving_sale_orders')"} <= set(overview["depends_on"])


# --- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "months", "expected"),
    [
        (date(2025, 12, 31), 12, "2025-01-01 : 2026-01-01"),
        (date(2026, 3, 15), 3, "2026-01-01 : 2026-04-01"),
        (date(2024, 1, 1), 1, "2024-01-01 : 2024-02-01"),
        (None, 12, "No filter"),
    ],
)
def test_default_time_range_ends_with_the_as_of_month(as_of: date | None, months: int, expected: str) -> None:
    assert default_time_range(as_of, months) == expected


def test_personal_columns_are_recognised() -> None:
    assert all(map(is_pii, ["email", "customer_name", "shipping_address", "contact_email", "phone"]))
    assert not any(map(is_pii, ["emails_sent", "email_open_rate", "product_name", "segment_name", "country_name"]))


def test_relations_of_a_virtual_dataset() -> None:
    sql = 'select a.x from marts.dim_customers a join "ml"."customer_scores" s on true'
    assert referenced_relations(sql) == [("marts", "dim_customers"), ("ml", "customer_scores")]
    assert forbidden_references("select * from staging.stg_shop__customers") == ["staging"]
    assert forbidden_references(sql) == []


# --- prepare() on a small warehouse ---------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "published.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema raw")
        con.execute(
            "create table marts.sales as select date '2025-06-01' as order_date, 'Toys' as category, "
            "'O1' as order_id, true as is_sale, 10.50::decimal(18,2) as revenue"
        )
        con.execute("create table marts.monthly as select date '2025-06-01' as month_start, 3::bigint as sessions")
        con.execute("create table marts.people as select 'C1' as customer_id, 'a@b.c' as email, 'FR' as country")
        con.execute("create table raw.orders as select 1 as x")
        con.execute("create table marts.mart_kpis as select date '2025-06-30' as as_of_date")
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.json"
    node = {"resource_type": "model", "name": "sales", "alias": "sales", "schema": "marts",
            "description": "One row per sale.", "columns": {"revenue": {"description": "Money in."}}}
    path.write_text(json.dumps({"nodes": {"model.x.sales": node}, "sources": {}}), encoding="utf-8")
    return path


def write_bundle(root: Path, files: dict[str, dict[str, Any]]) -> Path:
    for relative, config in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def minimal_bundle(tmp_path: Path, **extra: dict[str, Any]) -> Path:
    files = {
        "databases/db.yaml": {"database_name": "comptoir", "sqlalchemy_uri": "duckdb:///elsewhere.duckdb"},
        "datasets/db/sales.yaml": {"table_name": "sales", "schema": "marts"},
        "datasets/db/monthly.yaml": {"table_name": "monthly", "schema": "marts"},
        "charts/revenue.yaml": {"slice_name": "Revenue", "viz_type": "big_number_total", "dataset": "sales",
                                "params": {"metric": "revenue"}},
        "charts/sessions.yaml": {"slice_name": "Sessions", "viz_type": "big_number_total", "dataset": "monthly",
                                 "params": {"metric": {"expressionType": "SQL", "sqlExpression": "SUM(sessions)"}}},
        "dashboards/main.yaml": {
            "dashboard_title": "Main",
            "layout": [["revenue", {"chart": "sessions", "width": 8, "height": 30}]],
            "filters": [{"id": "range", "name": "Date range", "type": "time", "default_months": 3},
                        {"id": "category", "name": "Category", "dataset": "sales", "column": "category"}],
        },
        **extra,
    }
    return write_bundle(tmp_path / "assets", files)


def context(warehouse: Path, manifest: Path) -> Context:
    ctx = Context(warehouse, load_manifest(manifest), load_metric_library(METRICS_FILE))
    ctx.as_of = ctx.warehouse.as_of_date()
    return ctx


def test_prepare_expands_and_enriches_the_bundle(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    prepared = prepare(load_bundle(minimal_bundle(tmp_path)), context(warehouse, manifest))

    database = prepared.files["databases/db.yaml"]
    assert database["sqlalchemy_uri"] == f"duckdb:///{warehouse.resolve()}"
    assert database["extra"]["engine_params"]["connect_args"]["read_only"] is True

    sales = prepared.files["datasets/db/sales.yaml"]
    assert sales["uuid"] == stable_uuid("datasets", "sales")
    columns = {c["column_name"]: c for c in sales["columns"]}
    assert set(columns) == {"order_date", "category", "order_id", "is_sale", "revenue"}
    assert columns["order_date"]["is_dttm"] and not columns["revenue"]["is_dttm"]
    assert columns["revenue"]["description"] == "Money in."
    assert sales["description"] == "One row per sale."
    assert sales["main_dttm_col"] == "order_date"
    metrics = {m["metric_name"]: m["expression"] for m in sales["metrics"]}
    # the first variant whose columns the table has: sales only, and AOV from distinct orders
    assert metrics["revenue"] == "SUM(CASE WHEN is_sale THEN revenue ELSE 0 END)"
    assert "COUNT(DISTINCT CASE WHEN is_sale THEN order_id END)" in metrics["average_order_value"]
    assert "margin_pct" not in metrics and "retention_pct" not in metrics
    assert prepared.files["datasets/db/monthly.yaml"]["metrics"] == []

    dashboard = prepared.files["dashboards/main.yaml"]
    assert dashboard["slug"] == "main"
    position = dashboard["position"]
    revenue, sessions = stable_uuid("charts", "revenue"), stable_uuid("charts", "sessions")
    assert chart_uuids(position) == [revenue, sessions]
    widths = {node["meta"]["uuid"]: node["meta"]["width"] for node in position.values()
              if isinstance(node, dict) and node.get("type") == "CHART"}
    assert widths == {revenue: 4, sessions: 8}  # the unsized chart takes what the sized one leaves
    ids = {node["meta"]["uuid"]: node["meta"]["chartId"] for node in position.values()
           if isinstance(node, dict) and node.get("type") == "CHART"}
    time_filter, category = dashboard["metadata"]["native_filter_configuration"]
    assert time_filter["defaultDataMask"]["filterState"]["value"] == "2025-04-01 : 2025-07-01"
    assert category["targets"] == [{"column": {"name": "category"}, "datasetUuid": stable_uuid("datasets", "sales")}]
    # the monthly dataset has no category column: its chart is out of the filter's scope
    assert category["scope"]["excluded"] == [ids[sessions]]
    assert category["chartsInScope"] == [ids[revenue]]
    assert prepared.dashboard_datasets[dashboard["uuid"]] == {stable_uuid("datasets", "sales"),
                                                              stable_uuid("datasets", "monthly")}

    with zipfile.ZipFile(BytesIO(prepared.to_zip())) as archive:
        names = set(archive.namelist())
        assert f"{BUNDLE_ROOT}/metadata.yaml" in names
        assert yaml.safe_load(archive.read(f"{BUNDLE_ROOT}/metadata.yaml"))["type"] == "assets"
        assert f"{BUNDLE_ROOT}/charts/revenue.yaml" in names


def test_yaml_values_win_over_computed_ones(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    assets = minimal_bundle(tmp_path, **{"datasets/db/sales.yaml": {
        "table_name": "sales", "schema": "marts", "description": "Mine.",
        "columns": [{"column_name": "revenue", "description": "Given.", "verbose_name": "Turnover"},
                    {"column_name": "revenue_k", "expression": "revenue / 1000"}],
        "metrics": [{"metric_name": "revenue", "expression": "SUM(revenue)"}],
    }})
    sales = prepare(load_bundle(assets), context(warehouse, manifest)).files["datasets/db/sales.yaml"]
    columns = {c["column_name"]: c for c in sales["columns"]}
    assert columns["revenue"]["description"] == "Given." and columns["revenue"]["verbose_name"] == "Turnover"
    assert columns["revenue_k"]["expression"] == "revenue / 1000"
    assert [m["expression"] for m in sales["metrics"] if m["metric_name"] == "revenue"] == ["SUM(revenue)"]
    assert sales["description"] == "Mine."


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"table_name": "orders", "schema": "raw"}, "schema 'raw'"),
        ({"table_name": "people", "schema": "marts"}, "personal column(s) email"),
        ({"table_name": "x", "sql": "select * from raw.orders"}, "reads schema(s) raw"),
        ({"table_name": "x", "sql": "select customer_id, email from marts.people"}, "personal column(s) email"),
        ({"table_name": "nope", "schema": "marts"}, "does not exist"),
    ],
)
def test_prepare_refuses_raw_tables_and_personal_columns(
    tmp_path: Path, warehouse: Path, manifest: Path, dataset: dict[str, Any], message: str
) -> None:
    assets = minimal_bundle(tmp_path, **{"datasets/db/bad.yaml": dataset})
    with pytest.raises(BundleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prepare(load_bundle(assets), context(warehouse, manifest))


def test_a_virtual_dataset_without_personal_columns_is_accepted(
    tmp_path: Path, warehouse: Path, manifest: Path
) -> None:
    assets = minimal_bundle(tmp_path, **{"datasets/db/people.yaml": {
        "table_name": "people_by_country", "sql": "select customer_id, country from marts.people"}})
    people = prepare(load_bundle(assets), context(warehouse, manifest)).files["datasets/db/people.yaml"]
    assert [c["column_name"] for c in people["columns"]] == ["customer_id", "country"]
    assert people["schema"] == "marts"


def test_mistakes_in_references_are_all_reported(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    assets = minimal_bundle(tmp_path, **{
        "charts/orphan.yaml": {"viz_type": "table", "dataset": "no_such_dataset", "params": {}},
        "dashboards/other.yaml": {"dashboard_title": "Other", "slug": "main", "layout": [["no_such_chart"]]},
    })
    with pytest.raises(BundleError) as raised:
        prepare(load_bundle(assets), context(warehouse, manifest))
    text = str(raised.value)
    assert "no dataset file named no_such_dataset.yaml" in text
    assert "no chart file no_such_chart.yaml" in text
    assert "slug main is also used" in text


def test_default_time_range_may_run_past_the_as_of_date() -> None:
    assert default_time_range(date(2025, 12, 31), 6, months_after=3) == "2025-07-01 : 2026-04-01"


def test_range_and_fixed_time_filters(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    assets = minimal_bundle(tmp_path, **{"dashboards/main.yaml": {
        "dashboard_title": "Main", "layout": [["revenue", "sessions"]],
        "filters": [{"id": "when", "name": "Date range", "type": "time", "default": "No filter"},
                    {"id": "top", "name": "Top N", "type": "range", "dataset": "sales", "column": "revenue",
                     "single": "max", "default": 20},
                    {"id": "between", "name": "Revenue", "type": "range", "dataset": "sales", "column": "revenue",
                     "default": [5, 50]}],
    }})
    dashboard = prepare(load_bundle(assets), context(warehouse, manifest)).files["dashboards/main.yaml"]
    when, top, between = dashboard["metadata"]["native_filter_configuration"]
    assert when["defaultDataMask"]["filterState"]["value"] == "No filter"
    assert top["filterType"] == "filter_range" and top["controlValues"]["enableSingleValue"] == 2  # Maximum
    assert top["defaultDataMask"]["filterState"]["value"] == [None, 20]
    assert top["defaultDataMask"]["extraFormData"]["filters"] == [{"col": "revenue", "op": "<=", "val": 20}]
    assert between["defaultDataMask"]["extraFormData"]["filters"] == [
        {"col": "revenue", "op": ">=", "val": 5}, {"col": "revenue", "op": "<=", "val": 50}]
    assert "enableSingleValue" not in between["controlValues"]
    assert len(top["chartsInScope"]) == 1 and len(top["scope"]["excluded"]) == 1  # monthly has no revenue column


def test_a_jinja_virtual_dataset_is_read_with_no_filter_chosen(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    sql = ("select s.order_id, s.revenue, p.country from marts.sales s join marts.people p on true "
           "where true {% if filter_values('country') %} and p.country in {{ filter_values('country')|where_in }}"
           "{% endif %}{% if from_dttm %} and s.order_date >= '{{ from_dttm }}'{% endif %}")
    assert render_template(sql).endswith("on true where true ")
    assets = minimal_bundle(tmp_path, **{"datasets/db/joined.yaml": {"table_name": "joined", "sql": sql}})
    prepared = prepare(load_bundle(assets), context(warehouse, manifest))
    joined = prepared.files["datasets/db/joined.yaml"]
    columns = {c["column_name"]: c for c in joined["columns"]}
    assert list(columns) == ["order_id", "revenue", "country"]
    assert columns["revenue"]["description"] == "Money in."  # from the joined model that describes it
    assert joined["sql"] == sql  # Superset gets the template itself
    assert all(prepared.files[f"datasets/db/{name}.yaml"]["extra"][MANAGED_KEY] == MANAGED_BY
               for name in ("sales", "monthly", "joined"))  # what a later sync may prune


def test_a_select_filter_may_have_a_default_and_be_required(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    assets = minimal_bundle(tmp_path, **{"dashboards/main.yaml": {
        "dashboard_title": "Main", "layout": [["revenue", "sessions"]],
        "filters": [{"id": "range", "name": "Date range", "type": "time"},
                    {"id": "one", "name": "Category", "dataset": "sales", "column": "category", "multi": False,
                     "required": True, "default": "Toys"},
                    {"id": "any", "name": "Category", "dataset": "sales", "column": "category"}],
    }})
    dashboard = prepare(load_bundle(assets), context(warehouse, manifest)).files["dashboards/main.yaml"]
    _, one, plain = dashboard["metadata"]["native_filter_configuration"]
    assert one["defaultDataMask"]["filterState"]["value"] == ["Toys"]
    assert one["defaultDataMask"]["extraFormData"]["filters"] == [{"col": "category", "op": "IN", "val": ["Toys"]}]
    assert one["controlValues"]["enableEmptyFilter"] is True and one["controlValues"]["multiSelect"] is False
    # without `default` and `required`: as before
    assert plain["defaultDataMask"] == {"extraFormData": {}, "filterState": {}, "ownState": {}}
    assert plain["controlValues"]["enableEmptyFilter"] is False and plain["controlValues"]["multiSelect"] is True


def test_a_single_select_filter_takes_one_default(tmp_path: Path, warehouse: Path, manifest: Path) -> None:
    assets = minimal_bundle(tmp_path, **{"dashboards/main.yaml": {
        "dashboard_title": "Main", "layout": [["revenue", "sessions"]],
        "filters": [{"id": "range", "name": "Date range", "type": "time"},
                    {"id": "one", "name": "Category", "dataset": "sales", "column": "category", "multi": False,
                     "default": ["Toys", "Books"]}],
    }})
    with pytest.raises(BundleError, match="single-select but has 2 defaults"):
        prepare(load_bundle(assets), context(warehouse, manifest))


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"datasets/db/bad.yaml": {"table_name": "bad", "sql": "select {{ 1 + }} from marts.sales"}},
         "its Jinja does not render"),
        ({"dashboards/main.yaml": {"dashboard_title": "Main", "layout": [["revenue"]], "filters": [
            {"id": "r", "name": "Revenue", "type": "range", "dataset": "sales", "column": "revenue", "default": 5}]}},
         "a from-to range's default is"),
    ],
)
def test_bad_templates_and_range_defaults_are_reported(
    tmp_path: Path, warehouse: Path, manifest: Path, files: dict[str, Any], message: str
) -> None:
    with pytest.raises(BundleError, match=message):
        prepare(load_bundle(minimal_bundle(tmp_path, **files)), context(warehouse, manifest))
