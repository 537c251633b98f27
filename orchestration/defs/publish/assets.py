"""The published warehouse: the copy of a finished build that Superset reads (orchestration/publish.py).

The asset only publishes: it leaves the file and a fact beside it (`published.json`), and whoever serves the
warehouse reacts to that (the Superset follower re-syncs the dashboards); the build never calls a server.

The asset depends on every other asset of the warehouse job, so it runs last and only when all of them
succeeded: a failed raw load, a failing dbt test (dbt build stops the step) or a failed ML asset skips it,
and the previously published copy stays as it was.

After it, `lake/exports` writes the published copy's business tables as Parquet (orchestration/lake.py). It reads
the published file, never the build file: a failed export leaves the publish as it was (and the previous lake).
"""

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.defs.resources import WarehouseResource
from orchestration.lake import ExportError, export_lake
from orchestration.publish import PublishError, publish_warehouse
from orchestration.run_log import BuildRecord, forget_build, record_build

PUBLISHED_KEY = AssetKey(["published", "warehouse"])
LAKE_KEY = AssetKey(["lake", "exports"])
PUBLISH_GROUP = "published"


# The pipeline's own record (orchestration/run_log.py), read by the dashboards as dbt sources. Both tables are
# written on the side, by the dbt step and by the publish step, so they are declared, not materialized (like
# raw/load_rejects), with no edge to the publish step (an asset job selecting what is downstream of a step would
# then select them, and they cannot be materialized).
PIPELINE_RECORD = [
    AssetSpec(
        key=AssetKey(["pipeline", "dbt_node_results"]),
        group_name=PUBLISH_GROUP,
        kinds={"duckdb"},
        description="Every node of the last 30 dbt builds (status, seconds, failing rows), written by the dbt step "
        "from run_results.json.",
    ),
    AssetSpec(
        key=AssetKey(["pipeline", "builds"]),
        group_name=PUBLISH_GROUP,
        kinds={"duckdb"},
        description="One row per published build, written by the publish step into the build file just before "
        "the copy: the published warehouse's latest row is the last successful build.",
    ),
]


def upstream_keys(definitions: Iterable[AssetsDefinition | AssetSpec]) -> list[AssetKey]:
    """Every asset key the given assets and specs produce (a multi-asset counts all of its keys)."""
    keys: set[AssetKey] = set()
    for definition in definitions:
        if isinstance(definition, AssetSpec):
            keys.add(definition.key)
        else:
            keys.update(definition.keys)
    keys.discard(PUBLISHED_KEY)
    return sorted(keys, key=lambda key: key.to_user_string())


def build_publish_asset(upstream: Iterable[AssetsDefinition | AssetSpec], published_path: Path) -> AssetsDefinition:
    """The publish asset, downstream of every asset in `upstream`, writing `published_path`."""

    @asset(
        key=PUBLISHED_KEY,
        deps=upstream_keys(upstream),
        group_name=PUBLISH_GROUP,
        kinds={"duckdb"},
        description=(
            "The finished warehouse, published for the dashboards: after every load, dbt model and test and ML "
            "asset succeeded, the build file is copied beside the published file and renamed over it (atomic), "
            "so Superset, which opens the published file read-only, never sees a build in progress."
        ),
    )
    def published_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        record = context.instance.get_run_record_by_id(context.run.run_id)
        started = record.start_time if record is not None else None
        build = BuildRecord(
            run_id=context.run.run_id,
            job_name=context.job_name,
            started_at=datetime.fromtimestamp(started, UTC).replace(tzinfo=None) if started else None,
        )
        with warehouse.connect() as con:  # the published copy carries its own row of pipeline.builds
            record_build(con, build)
        try:
            published = publish_warehouse(Path(warehouse.database), published_path, run_id=context.run.run_id)
        except PublishError as error:
            with warehouse.connect() as con:
                forget_build(con, context.run.run_id)
            raise Failure(description=str(error), allow_retries=False) from error
        context.log.info(f"published {published.path} ({published.bytes:,} bytes) in {published.seconds:.1f}s")
        return MaterializeResult(
            metadata={
                "summary": f"{published.path} ({published.bytes / 1e6:,.1f} MB, {published.tables} tables)",
                "path": MetadataValue.path(str(published.path)),
                "bytes": published.bytes,
                "tables": published.tables,
                "seconds": round(published.seconds, 2),
            }
        )

    return published_warehouse


def build_lake_asset(published_path: Path, lake_path: Path) -> AssetsDefinition:
    """The Parquet lake, written from `published_path` into `lake_path` after each publish."""

    @asset(
        key=LAKE_KEY,
        deps=[PUBLISHED_KEY],
        group_name=PUBLISH_GROUP,
        kinds={"parquet"},
        description=(
            "The business tables (schemas marts and ml) of the published warehouse as Parquet under "
            "COMPTOIR_HOME/lake/<schema>/<table>/, dated tables partitioned year=/month=, personal columns left "
            "out; written beside the previous lake and renamed over it, so a failed export keeps the previous one."
        ),
    )
    def lake_exports(context: AssetExecutionContext) -> MaterializeResult:
        try:
            lake = export_lake(published_path, lake_path)
        except ExportError as error:
            raise Failure(description=str(error), allow_retries=False) from error
        partitioned = sum(1 for table in lake.tables if table.partition_column)
        context.log.info(f"lake {lake.path}: {len(lake.tables)} tables, {lake.files} files, {lake.rows:,} rows "
                         f"in {lake.seconds:.1f}s")
        return MaterializeResult(
            metadata={
                "summary": f"{lake.path} ({len(lake.tables)} tables, {partitioned} partitioned by month; "
                f"{lake.files} files, {lake.rows:,} rows, {lake.bytes / 1e6:,.1f} MB, {lake.seconds:.1f}s)",
                "path": MetadataValue.path(str(lake.path)),
                "tables": len(lake.tables),
                "files": lake.files,
                "rows": lake.rows,
                "bytes": lake.bytes,
                "seconds": round(lake.seconds, 2),
                "partitioned": MetadataValue.md(
                    "\n".join(f"- {t.schema}.{t.name}: {t.partition_column or 'unpartitioned'}" for t in lake.tables)
                ),
            }
        )

    return lake_exports
