"""dbt exposures for the dashboards of superset/assets/, so dbt's lineage shows which marts feed which dashboard.

dbt_project/models/exposures.yml is generated from the bundle (`python -m orchestration.superset.exposures`)
and a test fails when it no longer matches: a dashboard added or a dataset changed needs a regeneration.
"""

import sys
from typing import Any

import yaml

from orchestration.settings import SUPERSET_PORT
from orchestration.superset.bundle import Bundle, load_bundle, render_template
from orchestration.superset.catalog import referenced_relations
from orchestration.superset.sync import ASSETS_DIR, REPO_ROOT

EXPOSURES_FILE = REPO_ROOT / "dbt_project" / "models" / "exposures.yml"
HEADER = (
    "# Generated from superset/assets/ by `python -m orchestration.superset.exposures`: do not edit by hand.\n"
    "# One exposure per Superset dashboard, depending on the marts and ML tables its charts and filters read.\n"
)


# Schemas written by Python (ML assets, the pipeline's own record) and declared as dbt sources of the same name.
SOURCE_SCHEMAS = ("ml", "pipeline")


def _dbt_node(schema: str, table: str) -> str:
    """marts are dbt models; ml and pipeline tables are dbt sources."""
    return f"source('{schema}', '{table}')" if schema in SOURCE_SCHEMAS else f"ref('{table}')"


# The filter choices a virtual dataset's Jinja is rendered for, to find what each of its branches reads: nothing
# chosen, and several countries and categories (sales_counts then reads the sale orders instead of its sums).
RENDERED_CHOICES: tuple[dict[str, list[Any]], ...] = (
    {}, {"country_name": ["a", "b"], "category": ["a", "b"]},
)


def dataset_relations(config: dict[str, Any]) -> list[tuple[str, str]]:
    sql = config.get("sql")
    if sql:
        found: dict[tuple[str, str], None] = {}
        for choices in RENDERED_CHOICES:
            found.update(dict.fromkeys(referenced_relations(render_template(sql, filters=choices))))
        return list(found)
    return [(str(config.get("schema")), str(config.get("table_name")))]


def dashboard_datasets(bundle: Bundle, dashboard: dict[str, Any]) -> set[str]:
    """Dataset file names a dashboard reads: through its charts (layout or position) and its filters."""
    charts_by_name = bundle.by_name("charts")
    charts_by_uuid = bundle.by_uuid("charts")
    datasets_by_uuid = bundle.by_uuid("datasets")
    chart_assets = []
    for row in dashboard.get("layout") or []:
        for item in row if isinstance(row, list) else [row]:
            name = item if isinstance(item, str) else item.get("chart")
            if name in charts_by_name:
                chart_assets.append(charts_by_name[name])
    for node in (dashboard.get("position") or {}).values():
        if isinstance(node, dict) and node.get("type") == "CHART" and node["meta"].get("uuid") in charts_by_uuid:
            chart_assets.append(charts_by_uuid[node["meta"]["uuid"]])
    names = set()
    for chart in chart_assets:
        if "dataset" in chart.config:
            names.add(str(chart.config["dataset"]))
        elif chart.config.get("dataset_uuid") in datasets_by_uuid:
            names.add(datasets_by_uuid[chart.config["dataset_uuid"]].name)
    names.update(str(spec["dataset"]) for spec in dashboard.get("filters") or [] if spec.get("dataset"))
    return names


def render(bundle: Bundle) -> str:
    datasets = bundle.by_name("datasets")
    exposures = []
    for asset in sorted(bundle.of("dashboards"), key=lambda a: a.name):
        config = asset.config
        nodes = sorted({_dbt_node(schema, table) for name in dashboard_datasets(bundle, config) if name in datasets
                        for schema, table in dataset_relations(datasets[name].config)})
        slug = config.get("slug") or asset.name.replace("_", "-")
        exposures.append({
            "name": asset.name,
            "label": config.get("dashboard_title") or asset.name,
            "type": "dashboard",
            "maturity": "high",
            "url": f"http://localhost:{SUPERSET_PORT}/superset/dashboard/{slug}/",
            "description": (config.get("description") or "").strip() or f"Superset dashboard {slug}.",
            "owner": {"name": "Comptoir"},
            "depends_on": nodes,
        })
    return HEADER + yaml.safe_dump({"version": 2, "exposures": exposures}, sort_keys=False, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    EXPOSURES_FILE.write_text(render(load_bundle(ASSETS_DIR)), encoding="utf-8")
    print(f"wrote {EXPOSURES_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
