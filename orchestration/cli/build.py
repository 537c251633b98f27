"""`comptoir build`: the warehouse job in this process (raw load, dbt build, ML, publish), or with --changed only
the dbt models changed since the last build and their children, then publish (the analytics engineer's loop)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    ExecuteInProcessResult,
    colored_console_logger,
)

from orchestration.bench.timings import build_report, process_started_at
from orchestration.build_guard import (
    PID_TAG,
    describe_published,
    mark_abandoned_runs,
    raise_keyboard_interrupt_on_sigterm,
    remove_leftovers,
)
from orchestration.cli import summaries
from orchestration.cli.common import apply_seeds, prepare_dagster_home, wait_for_the_warehouse
from orchestration.dbt.args import FULL_REFRESH_TAG, changed_build_args
from orchestration.dbt.launcher import mark_as_parent
from orchestration.dbt.project import DBT_PROJECT_DIR, DbtManifestError
from orchestration.dbt.project_state import BUILT_PROJECT_FILE, project_fingerprint
from orchestration.dbt.results import RunSummary, summarise_run_results
from orchestration.dbt.runner import last_built_state, run_dbt
from orchestration.dbt.runs import RUN_RESULTS_FILE, prune_runs, run_artifacts_dir, runs_dir, seed_partial_parse
from orchestration.lake import ExportError, export_lake
from orchestration.progress import TerminalProgress
from orchestration.publish import PublishError, publish_warehouse
from orchestration.settings import Settings


def _dbt_summary(run_dir: Path) -> RunSummary | None:
    """The dbt run's summary from its run_results.json, or None when dbt did not run."""
    path = run_dir / RUN_RESULTS_FILE
    if not path.exists():
        return None
    return summarise_run_results(json.loads(path.read_text(encoding="utf-8")))


def _materializations(result: ExecuteInProcessResult, schema: str) -> list[tuple[str, dict[str, object]]]:
    """(asset key, metadata values) of every materialization in `schema` (raw, ml, published)."""
    found = []
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is not None and materialization.asset_key.path[0] == schema:
            metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
            found.append((".".join(materialization.asset_key.path), metadata))
    return found


def _summaries(result: ExecuteInProcessResult, schema: str) -> list[tuple[str, str]]:
    return [(key, str(meta["summary"])) for key, meta in _materializations(result, schema) if "summary" in meta]


def _model_folders(settings: Settings) -> list[Path]:
    """Where saved models are written (beside, then renamed): the folders a killed build may leave a `.tmp-*` in."""
    folder = settings.models_dir
    return [folder, *(p for p in folder.iterdir() if p.is_dir())] if folder.is_dir() else []


def _was_interrupted(instance: DagsterInstance, run_id: str) -> bool:
    """Whether Ctrl-C or SIGTERM ended the run (Dagster records it as canceled, or as a step interrupted)."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in (DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING):
        return True
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
    for record in records:
        dagster_event = record.event_log_entry.dagster_event
        data = dagster_event.step_failure_data if dagster_event is not None else None
        error = data.error if data is not None else None
        if error is not None and error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
            return True
    return False


def _step_failures(result: ExecuteInProcessResult) -> list[tuple[str, str]]:
    failures = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            failure = event.step_failure_data
            if failure.user_failure_data and failure.user_failure_data.description:
                message = failure.user_failure_data.description
            else:
                message = failure.error.to_string() if failure.error else "unknown error"
            failures.append((str(event.step_key), message.strip()))
    return failures


def _quiet_dagster(record: logging.LogRecord) -> bool:
    """Terminal filter: Dagster's own loggers only when something is an error; our own INFO lines reach the
    terminal through the run's progress logger (they are the run's managed Python loggers)."""
    if record.name.startswith("dagster"):
        return record.levelno >= logging.ERROR
    return not record.name.startswith(("orchestration", "ml")) or record.levelno >= logging.WARNING


def _build_changed(settings: Settings) -> int:
    """dbt `state:modified+` against the last successful build, in full and tested, then publish. No raw load and
    no ML: what changed is SQL, not data (`comptoir build` refreshes the ML tables)."""
    started = time.monotonic()
    runs = runs_dir(settings.warehouse_path)
    state = last_built_state(runs)
    if state is None or not settings.warehouse_path.exists():
        print("error: no earlier build to compare the dbt project with: run `comptoir build` once first",
              file=sys.stderr)
        return 1
    prune_runs(settings.warehouse_path)
    target = run_artifacts_dir(settings.warehouse_path, f"changed-{uuid.uuid4()}")
    target.mkdir(parents=True)
    seed_partial_parse(target, settings.warehouse_path)
    fingerprint = project_fingerprint(DBT_PROJECT_DIR)
    status = run_dbt(changed_build_args(state), settings.warehouse_path, target, settings.home / "bin")
    summary = _dbt_summary(target)
    summaries.dbt_build(settings, summary, label="dbt build of the changed models and their children",
                        quarantine_line=False)  # the quarantine is rebuilt only when its SQL changed
    if status != 0 or summary is None or not summary.success:
        print(f"Build failed; nothing was published. dbt's artifacts: {target}", file=sys.stderr)
        return 1
    # The warehouse now matches this project: the next build (and the next --changed) compare with it.
    (target / BUILT_PROJECT_FILE).write_text(fingerprint, encoding="utf-8")
    if not summary.results:
        print("Nothing changed since the last build: nothing to publish.")
        return 0
    try:
        published = publish_warehouse(settings.warehouse_path, settings.published_path)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summaries.published([f"{published.path} ({published.bytes / 1e6:,.1f} MB, {published.tables} tables)"])
    try:  # the lake follows the published warehouse, as after a whole build
        lake = export_lake(settings.published_path, settings.lake_path)
    except (ExportError, OSError, duckdb.Error) as error:
        summaries.lake_failed(str(error))
        return 1
    summaries.lake([f"{lake.path} ({len(lake.tables)} tables, {lake.files} files, {lake.rows:,} rows, "
                    f"{lake.seconds:.1f}s)"])
    print("The ML tables were not refreshed (run `comptoir build` for that).")
    summaries.built(time.monotonic() - started)
    return 0


def run(args: argparse.Namespace) -> int:
    settings = apply_seeds(args.seeds)
    prepare_dagster_home(settings)
    # dbt children die with this process (launcher.py); SIGTERM interrupts like Ctrl-C (build_guard.py).
    mark_as_parent()
    raise_keyboard_interrupt_on_sigterm()
    if not wait_for_the_warehouse(settings, args.lock_wait):
        return 1
    remove_leftovers(settings.published_path.parent, *_model_folders(settings))
    if args.changed:
        return _build_changed(settings)
    started = time.monotonic()
    try:
        # Importing the definitions re-parses the dbt project when it changed.
        from orchestration.definitions import WAREHOUSE_JOB_NAME, build_definitions
    except DbtManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from orchestration.defs.ml.schedules import REFRESH_JOB_NAME

    job = build_definitions(settings).resolve_job_def(REFRESH_JOB_NAME if args.no_refit else WAREHOUSE_JOB_NAME)
    run_id = str(uuid.uuid4())  # known before the run: it names the run's dbt artifacts folder
    run_dir = run_artifacts_dir(settings.warehouse_path, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    dbt_output = run_dir / "dbt-output.log"
    if not args.verbose:
        # dagster-dbt's notes (subsetting, tests reported as observations) stay in the Dagster UI.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_dagster)
    # Progress goes to the terminal even while dbt's echo is redirected to a file below.
    progress = TerminalProgress(sys.stdout)
    job = job.with_logger_defs({"console": colored_console_logger, "progress": progress.definition()})
    tags = {PID_TAG: str(os.getpid()), **({FULL_REFRESH_TAG: "true"} if args.full_refresh else {})}
    interrupted = False
    with DagsterInstance.get() as instance, contextlib.ExitStack() as stack:
        mark_abandoned_runs(instance, os.getpid())
        if not args.verbose:
            # dagster-dbt echoes dbt's console output on stdout: keep it in a file, print our summary.
            stream = stack.enter_context(dbt_output.open("w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(stream))
        try:
            # One run: raw load, then dbt build (models and tests) once every raw table is written.
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                # Step events stay in the Dagster UI; the terminal gets warnings and our summary.
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}, "progress": {}}},
                tags=tags,
            )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            progress.close()
        interrupted = interrupted or _was_interrupted(instance, run_id)
        if interrupted:
            # Before the summary: an interrupted run has no result worth printing, one line says it all.
            print(f"Interrupted: nothing was published; {describe_published(settings.published_path)}.",
                  file=sys.stderr)
            return 130
        if args.report_json:
            report = build_report(instance, run_id, run_dir, process_started_at(), result.success)
            Path(args.report_json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    summaries.raw_load(settings, [(key.split(".")[-1], meta) for key, meta in _materializations(result, "raw")])
    summaries.dbt_build(settings, _dbt_summary(run_dir))
    summaries.ml_tables(_summaries(result, "ml"))
    summaries.published([summary for _, summary in _summaries(result, "published")])
    summaries.lake([summary for _, summary in _summaries(result, "lake")])
    summaries.alerts([summary for key, summary in _summaries(result, "pipeline") if key == "pipeline.alerts"])
    summaries.built(time.monotonic() - started)
    if not result.success:
        failures = _step_failures(result)
        summaries.build_failed(failures, run_dir)
        _record_failed_build(settings, run_id, job.name, failures)
        return 1
    return 0


def _record_failed_build(settings: Settings, run_id: str, job_name: str, failures: list[tuple[str, str]]) -> None:
    """The failed-build alert, as the Dagster sensor records it for daemon runs (this run has no daemon)."""
    from orchestration.alerts import record_failed_build
    from orchestration.alerts.config import AlertConfigError

    message = "; ".join(f"{step}: {text}" for step, text in failures) or "the run failed"
    try:
        with duckdb.connect(str(settings.warehouse_path)) as con:
            record_failed_build(con, run_id, job_name, message, datetime.now(UTC).replace(tzinfo=None))
    except (duckdb.Error, OSError, AlertConfigError) as error:
        print(f"warning: the failed-build alert was not recorded: {error}", file=sys.stderr)
