"""Every dbt model as a Dagster asset, every dbt test as an asset check, one `dbt build` step.

The manifest is (re)built at import when the project changed (see project.py). dbt writes the
warehouse the WarehouseResource names (COMPTOIR_DUCKDB_PATH for the dbt profile), after the raw
assets have closed their connection: the in-process executor runs one step at a time.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, Failure, MetadataValue
from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource, DbtProject, dbt_assets

from orchestration.contract import SOURCES
from orchestration.dbt.args import is_full_refresh, warehouse_build_args
from orchestration.dbt.project import ensure_manifest
from orchestration.dbt.project_state import (
    BUILT_PROJECT_FILE,
    UNIT_TESTED_FILE,
    project_changed_since_last_build,
    project_fingerprint,
    unit_tests_passed_on,
)
from orchestration.dbt.results import summarise_run_results
from orchestration.dbt.runs import (
    DUCKDB_PATH_ENV,
    RUN_RESULTS_FILE,
    prune_runs,
    run_artifacts_dir,
    runs_dir,
    seed_partial_parse,
)
from orchestration.defs.dbt.resources import dbt_project, environment
from orchestration.defs.dbt.translator import RAW_GROUP, ComptoirDbtTranslator
from orchestration.defs.resources import WarehouseResource
from orchestration.run_log import record_dbt_results

DBT_STEP_NAME = "dbt_models"

# raw.load_rejects is a dbt source (shop.load_rejects) that every raw-load asset appends to: it has
# no asset of its own, so it is declared here, downstream of all of them, and never materialized.
load_rejects = AssetSpec(
    key=AssetKey(["raw", "load_rejects"]),
    deps=[AssetKey(["raw", source.name]) for source in SOURCES],
    group_name=RAW_GROUP,
    description=(
        "Lines of any landing file that could not be parsed at all (source, source_file, line_number, "
        "raw_line, reason). Written by the raw-load assets as they load each file."
    ),
    kinds={"duckdb"},
    tags={"layer": "raw"},
)


def _asset_events(context: AssetExecutionContext, invocation: DbtCliInvocation) -> Iterator[Any]:
    """dagster-dbt's `invocation.stream()`, tolerating nodes the loaded manifest does not know.

    dbt re-parses the project when it starts; a model or test added since the definitions were
    loaded would otherwise crash the step with a KeyError. It still runs and counts in the summary;
    Dagster shows it after the code location is reloaded.
    """
    known = invocation.manifest.get("nodes", {})
    unknown: set[str] = set()
    for event in invocation.stream_raw_events():
        unique_id = event.raw_event.get("data", {}).get("node_info", {}).get("unique_id")
        if unique_id and unique_id not in known and not unique_id.startswith("unit_test."):
            unknown.add(unique_id)
            continue
        yield from event.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context,
            target_path=invocation.target_path,
            project=invocation.project,
        )
    if unknown:
        context.log.warning(
            f"{len(unknown)} dbt node(s) ran that the loaded definitions do not know (the project changed "
            f"after they were loaded; reload the code location): {', '.join(sorted(unknown)[:10])}"
        )


def build_dbt_assets(project: DbtProject, translator: DagsterDbtTranslator | None = None) -> AssetsDefinition:
    """One multi-asset over every model of `project` (manifest parsed first if it is stale)."""
    manifest_path = ensure_manifest(project.project_dir, project.project_dir / project.target_path)

    @dbt_assets(
        manifest=manifest_path,
        project=project,
        dagster_dbt_translator=translator or ComptoirDbtTranslator(),
        name=DBT_STEP_NAME,
    )
    def dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        """`dbt build` of the selected models and their tests (staging -> intermediate -> marts), incremental
        unless the run carries the full-refresh tag."""
        yield from _dbt_build(context, dbt, warehouse)

    return dbt_models


def _dbt_build(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource) -> Iterator[Any]:
    target = run_artifacts_dir(warehouse.database, context.run.run_id)
    prune_runs(warehouse.database)
    target.mkdir(parents=True, exist_ok=True)
    seed_partial_parse(target, warehouse.database)
    # Incremental unless the run is tagged for a full refresh or the dbt project changed since the last
    # build (DECISIONS.md: Incremental builds; A changed dbt project rebuilds in full).
    runs = runs_dir(warehouse.database)
    fingerprint = project_fingerprint(Path(dbt.project_dir))
    full_refresh = is_full_refresh(context.run.tags)
    if full_refresh:
        context.log.info("full refresh: every dbt model is rebuilt from the whole raw layer")
    elif project_changed_since_last_build(fingerprint, runs):
        full_refresh = True
        context.log.info("the dbt project changed since the last build: every dbt model is rebuilt (full refresh)")
    unit_tests = full_refresh or not unit_tests_passed_on(fingerprint, runs)
    if not unit_tests:
        context.log.info("dbt unit tests skipped: they passed on this very dbt project in an earlier build")
    # dbt's debug file log runs to ~15 MB a build: info is enough beside run_results.json.
    with environment(**{DUCKDB_PATH_ENV: str(Path(warehouse.database).resolve()), "DBT_LOG_LEVEL_FILE": "info"}):
        invocation = dbt.cli(warehouse_build_args(full_refresh, unit_tests), context=context, target_path=target,
                             raise_on_error=False)
    yield from _asset_events(context, invocation)

    results_path = target / RUN_RESULTS_FILE
    if not results_path.exists():
        # dbt stopped before running anything (compilation error, bad profile, ...).
        error = invocation.get_error()
        raise Failure(
            description=f"dbt build did not run: {error or 'no run_results.json'} (log: {target / 'dbt.log'})",
            allow_retries=False,
        )
    run_results = invocation.get_artifact(RUN_RESULTS_FILE)
    summary = summarise_run_results(run_results)
    with warehouse.connect() as con:  # the record for the pipeline dashboard, failed builds included
        record_dbt_results(con, context.run.run_id, run_results, invocation.manifest)
    context.log.info(f"dbt build: {summary.headline()} (artifacts in {target})")
    if not summary.success:
        raise Failure(
            description=summary.failure_message(),
            metadata={
                "run_results": MetadataValue.path(str(results_path)),
                "failed": MetadataValue.json([r.unique_id for r in summary.failed]),
            },
            allow_retries=False,
        )
    if invocation.process.wait() != 0:
        # Every node passed but dbt still failed (an on-run-end hook, a crash while writing artifacts).
        raise Failure(
            description=f"dbt build exited with {invocation.process.returncode}: {invocation.get_error()}",
            allow_retries=False,
        )
    (target / BUILT_PROJECT_FILE).write_text(fingerprint, encoding="utf-8")
    if unit_tests and any(r.resource_type == "unit_test" for r in summary.results):
        (target / UNIT_TESTED_FILE).write_text(fingerprint, encoding="utf-8")


dbt_models = build_dbt_assets(dbt_project)
