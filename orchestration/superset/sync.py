"""`comptoir superset sync`: make a running Superset show exactly the dashboards of superset/assets/.

One import of the whole bundle through POST /api/v1/assets/import/ (objects are matched by uuid and
overwritten, so running it twice changes nothing and duplicates nothing), then what an earlier sync imported
and the bundle no longer has is deleted (only objects the sync manages: nothing made in the UI), then the
"Business viewer" role is given access to exactly the datasets the dashboards read, and the demo viewer
account is kept in shape.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.dbt.project import (
    DBT_MANIFEST_FILE,
    DBT_PROJECT_DIR,
    TARGET_DIR_NAME,
    DbtManifestError,
    ensure_manifest,
)
from orchestration.settings import REPO_ROOT
from orchestration.superset.bundle import (
    MANAGED_BY,
    MANAGED_KEY,
    Context,
    Prepared,
    load_bundle,
    load_metric_library,
    prepare,
)
from orchestration.superset.catalog import load_manifest
from orchestration.superset.client import SupersetClient
from orchestration.superset.security import VIEWER_USERNAME, DatasetRef, ensure_user, ensure_viewer_role

log = logging.getLogger(__name__)

SUPERSET_DIR = REPO_ROOT / "superset"
ASSETS_DIR = SUPERSET_DIR / "assets"
METRICS_FILE = SUPERSET_DIR / "metrics.yaml"


@dataclass
class SyncReport:
    databases: int
    datasets: int
    charts: int
    dashboards: list[tuple[str, str]]  # (title, slug)
    viewer_datasets: int
    seconds: float
    as_of: str | None = None
    viewer: str | None = None
    pruned: list[str] = field(default_factory=list)  # "<kind> <name>" of the objects removed


def default_manifest() -> Path:
    """dbt's manifest.json, re-parsed first if the dbt project changed since it was written."""
    try:
        return ensure_manifest()
    except DbtManifestError as error:
        log.warning("dbt parse failed, column descriptions may be stale: %s", error)
        return DBT_PROJECT_DIR / TARGET_DIR_NAME / DBT_MANIFEST_FILE


def prepare_assets(
    assets_dir: Path,
    published_path: Path,
    manifest_path: Path | None = None,
    metrics_path: Path = METRICS_FILE,
) -> Prepared:
    """The bundle of `assets_dir`, expanded and enriched against the published warehouse and dbt's manifest."""
    context = Context(
        published_path=published_path,
        manifest=load_manifest(manifest_path or default_manifest()),
        metrics=load_metric_library(metrics_path),
    )
    context.as_of = context.warehouse.as_of_date()
    return prepare(load_bundle(assets_dir), context)


def dataset_refs(client: SupersetClient) -> dict[str, DatasetRef]:
    """Every dataset in Superset by uuid."""
    refs = {}
    for row in client.list_all("dataset", columns=["id", "uuid", "table_name", "database.database_name"]):
        refs[str(row["uuid"])] = DatasetRef(int(row["id"]), row["table_name"], row["database"]["database_name"])
    return refs


def fix_filter_scopes(client: SupersetClient, dashboard_uuids: set[str]) -> int:
    """Point each native filter's `chartsInScope` at the charts' ids in this Superset; the number of dashboards fixed.

    An import renumbers charts and remaps a filter's `scope.excluded`, but not its `chartsInScope`, which the
    browser uses to decide which charts a filter applies to. For filters scoped from the dashboard root it is
    every chart of the dashboard but the excluded ones.
    """
    fixed = 0
    for row in client.list_all("dashboard", columns=["id", "uuid"]):
        if str(row["uuid"]) not in dashboard_uuids:
            continue
        dashboard = client.get(f"/api/v1/dashboard/{row['id']}")["result"]
        position = json.loads(dashboard.get("position_json") or "{}")
        metadata = json.loads(dashboard.get("json_metadata") or "{}")
        chart_ids = sorted(int(node["meta"]["chartId"]) for node in position.values()
                           if isinstance(node, dict) and node.get("type") == "CHART")
        changed = False
        for config in [*metadata.get("native_filter_configuration", []), metadata.get("global_chart_configuration")]:
            scope = (config or {}).get("scope") or {}
            if config is None or scope.get("rootPath") != ["ROOT_ID"]:
                continue
            in_scope = [chart_id for chart_id in chart_ids if chart_id not in set(scope.get("excluded") or [])]
            if config.get("chartsInScope") != in_scope:
                config["chartsInScope"] = in_scope
                changed = True
        if changed:
            client.put(f"/api/v1/dashboard/{row['id']}", json={"json_metadata": json.dumps(metadata)})
            fixed += 1
    return fixed


def _is_managed(row: dict[str, Any], kind: str) -> bool:
    if kind == "dataset":
        try:
            extra = json.loads(row.get("extra") or "{}")
        except (TypeError, ValueError):
            return False
        return isinstance(extra, dict) and extra.get(MANAGED_KEY) == MANAGED_BY
    return row.get("certified_by") == MANAGED_BY


def prune(client: SupersetClient, prepared: Prepared) -> list[str]:
    """Delete the dashboards, charts and datasets an earlier sync imported that the bundle no longer has.

    Only objects the sync manages are touched (charts and dashboards certified by Comptoir, datasets marked in
    their `extra`); anything made in the UI stays. Returns "<kind> <name>" of each object deleted.
    """
    deleted = []
    for kind, name_column in (("dashboard", "dashboard_title"), ("chart", "slice_name"), ("dataset", "table_name")):
        wanted = {str(config["uuid"]) for config in prepared.of(f"{kind}s").values()}
        managed_column = "extra" if kind == "dataset" else "certified_by"
        for row in client.list_all(kind, columns=["id", "uuid", name_column, managed_column]):
            if str(row["uuid"]) not in wanted and _is_managed(row, kind):
                client.delete(f"/api/v1/{kind}/{row['id']}")
                deleted.append(f"{kind} {row[name_column]}")
    if deleted:
        log.info("pruned what superset/assets/ no longer has: %s", ", ".join(deleted))
    return deleted


def sync(
    base_url: str,
    username: str,
    password: str,
    assets_dir: Path = ASSETS_DIR,
    published_path: Path | None = None,
    *,
    manifest_path: Path | None = None,
    metrics_path: Path = METRICS_FILE,
    viewer_password: str | None = None,
) -> SyncReport:
    """Import superset/assets/ into the Superset at `base_url` and set the viewer role (and account)."""
    if published_path is None:
        raise ValueError("published_path is required: the warehouse file the dashboards read")
    started = time.monotonic()
    prepared = prepare_assets(assets_dir, published_path, manifest_path, metrics_path)
    client = SupersetClient(base_url, username, password)
    client.import_assets(prepared.to_zip())
    pruned = prune(client, prepared)
    fix_filter_scopes(client, {str(config["uuid"]) for config in prepared.of("dashboards").values()})
    refs = dataset_refs(client)
    used = set().union(*prepared.dashboard_datasets.values()) if prepared.dashboard_datasets else set()
    missing = sorted(used - set(refs))
    if missing:
        raise RuntimeError(f"datasets {missing} were imported but Superset does not list them")
    role_id = ensure_viewer_role(client, [refs[u] for u in sorted(used)])
    if viewer_password is not None:
        ensure_user(client, VIEWER_USERNAME, viewer_password, role_id)
    dashboards = [(str(config["dashboard_title"]), str(config["slug"]))
                  for config in prepared.of("dashboards").values()]
    report = SyncReport(
        databases=len(prepared.of("databases")),
        datasets=len(prepared.of("datasets")),
        charts=len(prepared.of("charts")),
        dashboards=sorted(dashboards),
        viewer_datasets=len(used),
        seconds=time.monotonic() - started,
        viewer=VIEWER_USERNAME if viewer_password is not None else None,
        as_of=prepared.as_of.isoformat() if prepared.as_of else None,
        pruned=pruned,
    )
    log.info("synced %d dashboards, %d charts, %d datasets in %.1fs", len(dashboards), report.charts,
             report.datasets, report.seconds)
    return report
