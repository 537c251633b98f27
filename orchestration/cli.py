"""`comptoir`: the everyday verbs (generate, build, bench, serve, score, superset)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

from orchestration.settings import (
    DAGSTER_PORT,
    HOME_ENV,
    SEEDS_ENV,
    SUPERSET_PORT,
    Settings,
    make_private,
    private_dir,
    private_home,
)

log = logging.getLogger("comptoir")

QUARANTINE = "dq_quarantine"  # staging model holding every row a data-quality rule set aside
# Python logs of our own code go to the run's event log too (the Dagster UI and the terminal's progress lines).
_DAGSTER_YAML = (
    "telemetry:\n  enabled: false\n"
    "python_logs:\n  managed_python_loggers: [ml, orchestration]\n  python_log_level: INFO\n"
)


def _apply_seeds(seeds: str | None) -> Settings:
    """--seeds overrides COMPTOIR_SEEDS_DIR; the environment carries it to subprocesses too."""
    if seeds:
        os.environ[SEEDS_ENV] = str(Path(seeds).resolve())
    settings = Settings.from_env()
    os.environ[SEEDS_ENV] = str(settings.seeds_dir)
    os.environ[HOME_ENV] = str(settings.home)
    private_home(settings.home)
    return settings


def _prepare_dagster_home(settings: Settings) -> Path:
    home = private_dir(settings.dagster_home)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != _DAGSTER_YAML:
        config.write_text(_DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.generator import generate

    out = Path(args.out)
    started = time.monotonic()
    manifest = generate(
        out,
        customers=args.customers,
        days=args.days,
        seed=args.seed,
        start=args.start,
        defect_rate=args.defect_rate,
        subcent_rate=args.subcent_rate,
    )
    rows = manifest.get("rows", {})
    print(f"Wrote {out.resolve()} in {time.monotonic() - started:.1f}s")
    for name, count in rows.items():
        print(f"  {name:<20} {count:>12,} rows")
    return 0


def _print_raw_summary(settings: Settings, result: object) -> None:
    from dagster import ExecuteInProcessResult

    assert isinstance(result, ExecuteInProcessResult)
    print(f"\nLanding folder: {settings.seeds_dir}")
    print(f"{'source':<16}{'loaded':>12}{'rejected':>10}")
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is None or materialization.asset_key.path[0] != "raw":
            continue
        meta = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        name = materialization.asset_key.path[-1]
        if not meta.get("file_present", True):
            print(f"{name:<16}{'(file absent: table left empty)':>22}")
            continue
        print(f"{name:<16}{meta.get('rows_loaded', 0):>12,}{meta.get('rows_rejected', 0):>10,}")
    print(f"\nWarehouse: {settings.warehouse_path}")
    print("Rejected lines: raw.load_rejects (source, source_file, line_number, raw_line, reason)")


def _summaries(result: object, schema: str) -> list[tuple[str, str]]:
    """(asset key, `summary` metadata) of every materialization in `schema` (ml/..., published/...)."""
    from dagster import ExecuteInProcessResult

    assert isinstance(result, ExecuteInProcessResult)
    summaries = []
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is None or materialization.asset_key.path[0] != schema:
            continue
        summary = materialization.metadata.get("summary")
        if summary is not None:
            summaries.append((".".join(materialization.asset_key.path), str(getattr(summary, "value", summary))))
    return summaries


def _print_ml_summary(result: object) -> None:
    """One line per ML table, from the `summary` each ML asset puts on its materialization."""
    lines = [f"  {key:<26}{summary}" for key, summary in _summaries(result, "ml")]
    if lines:
        print("Models (schema ml):")
        print("\n".join(lines))


def _print_published(result: object) -> None:
    """Where the build was published (and whether the running dashboards were re-synced)."""
    for _, summary in _summaries(result, "published"):
        print(f"Published: {summary}")


def _dbt_summary(settings: Settings, run_id: str) -> object | None:
    """The dbt run's summary from its run_results.json, or None when dbt did not run."""
    from orchestration.dbt.results import summarise_run_results
    from orchestration.defs.dbt.resources import RUN_RESULTS_FILE, run_artifacts_dir

    path = run_artifacts_dir(settings.warehouse_path, run_id) / RUN_RESULTS_FILE
    if not path.exists():
        return None
    return summarise_run_results(json.loads(path.read_text(encoding="utf-8")))


def _quarantine_counts(settings: Settings) -> list[tuple[str, str, int]] | None:
    """Rows set aside per source and data-quality rule (staging.dq_quarantine), None when absent."""
    import duckdb

    if not settings.warehouse_path.exists():
        return None
    try:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            rows = con.execute(
                f"select source, rule, count(*) from staging.{QUARANTINE} group by all order by all"
            ).fetchall()
    except duckdb.Error:
        return None
    return [(str(source), str(rule), int(count)) for source, rule, count in rows]


def _print_dbt_summary(settings: Settings, summary: object | None) -> None:
    from orchestration.dbt.results import RunSummary

    print()
    if summary is None:
        print("dbt build: no results (it did not run, or stopped before running any node)")
        return
    assert isinstance(summary, RunSummary)
    print(f"dbt build: {summary.headline()} in {summary.elapsed_seconds:.1f}s")
    for result in summary.tests_warned:
        print(f"  warned: {result.describe()}")
    for result in summary.failed:
        print(f"  FAILED {result.resource_type}: {result.describe()}")
    quarantine = next((r for r in summary.results if r.unique_id.startswith("model.") and r.name == QUARANTINE), None)
    counts = _quarantine_counts(settings) if quarantine is not None and quarantine.status == "success" else None
    if counts is None:
        # Never print a previous build's table as if it were this one's.
        status = quarantine.status if quarantine is not None else "not run"
        print(f"Rows quarantined: staging.{QUARANTINE} was not built in this run ({status})")
        return
    total = sum(count for _, _, count in counts)
    print(f"Rows quarantined: {total:,} (staging.dq_quarantine)")
    if counts:
        print(f"  {'source':<16}{'rule':<32}{'rows':>8}")
    for source, rule, count in counts:
        print(f"  {source:<16}{rule:<32}{count:>8,}")


def _model_folders(settings: Settings) -> list[Path]:
    """Where saved models are written (beside, then renamed): the folders a killed build may leave a `.tmp-*` in."""
    folder = settings.models_dir
    return [folder, *(p for p in folder.iterdir() if p.is_dir())] if folder.is_dir() else []


def _was_interrupted(instance: object, run_id: str) -> bool:
    """Whether Ctrl-C or SIGTERM ended the run (Dagster records it as canceled, or as a step interrupted)."""
    from dagster import DagsterEventType, DagsterRunStatus

    run = instance.get_run_by_id(run_id)  # type: ignore[attr-defined]
    if run is not None and run.status in (DagsterRunStatus.CANCELED, DagsterRunStatus.CANCELING):
        return True
    records = instance.get_records_for_run(  # type: ignore[attr-defined]
        run_id, of_type=DagsterEventType.STEP_FAILURE
    ).records
    for record in records:
        data = record.event_log_entry.dagster_event.step_failure_data
        error = data.error if data is not None else None
        if error is not None and error.cls_name in ("DagsterExecutionInterruptedError", "KeyboardInterrupt"):
            return True
    return False


def _step_failures(result: object) -> list[tuple[str, str]]:
    from dagster import ExecuteInProcessResult

    assert isinstance(result, ExecuteInProcessResult)
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


def _wait_for_the_warehouse(settings: Settings, wait: float) -> bool:
    """True when the build warehouse can be written; else one line saying who holds it (after `wait` seconds)."""
    from orchestration.build_guard import wait_for_unlocked

    def waiting(holder: object) -> None:
        print(f"The warehouse {settings.warehouse_path} is locked by {holder.describe()}: "  # type: ignore[attr-defined]
              f"waiting up to {wait:.0f}s for it to end", file=sys.stderr)

    holder = wait_for_unlocked(settings.warehouse_path, wait, waiting)
    if holder is not None:
        print(f"error: the warehouse {settings.warehouse_path} is still locked by {holder.describe()} after "
              f"{wait:.0f}s; nothing was built (--lock-wait sets how long to wait)", file=sys.stderr)
        return False
    return True


def cmd_build(args: argparse.Namespace) -> int:
    settings = _apply_seeds(args.seeds)
    _prepare_dagster_home(settings)
    from orchestration.build_guard import (
        PID_TAG,
        describe_published,
        mark_abandoned_runs,
        raise_keyboard_interrupt_on_sigterm,
        remove_leftovers,
    )
    from orchestration.dbt.launcher import mark_as_parent

    # dbt children die with this process (launcher.py); SIGTERM interrupts like Ctrl-C (build_guard.py).
    mark_as_parent()
    raise_keyboard_interrupt_on_sigterm()
    if not _wait_for_the_warehouse(settings, args.lock_wait):
        return 1
    remove_leftovers(settings.published_path.parent, *_model_folders(settings))
    from dagster import DagsterInstance

    from orchestration.dbt.project import DbtManifestError

    started = time.monotonic()
    try:
        # Importing the definitions re-parses the dbt project when it changed.
        from orchestration.definitions import WAREHOUSE_JOB_NAME, build_definitions
    except DbtManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from orchestration.dbt.args import FULL_REFRESH_TAG
    from orchestration.defs.dbt.resources import run_artifacts_dir
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
    from dagster import colored_console_logger

    from orchestration.progress import TerminalProgress

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
            from orchestration.bench.timings import build_report, process_started_at

            report = build_report(instance, run_id, run_dir, process_started_at(), result.success)
            Path(args.report_json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    _print_raw_summary(settings, result)
    summary = _dbt_summary(settings, run_id)
    _print_dbt_summary(settings, summary)
    _print_ml_summary(result)
    _print_published(result)
    print(f"Built in {time.monotonic() - started:.1f}s")
    if not result.success:
        failures = _step_failures(result)
        for step_key, message in failures:
            print(f"error in {step_key}: {message}", file=sys.stderr)
        if any(step_key.startswith("raw__") for step_key, _ in failures):
            print("Build failed; a source that failed keeps its previous raw table.", file=sys.stderr)
        else:
            print(f"Build failed; dbt's output and artifacts: {run_dir}", file=sys.stderr)
        return 1
    return 0


def _superset_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def _sync_superset(settings: Settings, url: str, assets_dir: Path | None = None) -> int:
    """Sync the dashboards (superset/assets/ unless `assets_dir`) into the Superset at `url`; 0 when done, 1 when
    the bundle or Superset failed."""
    import requests

    from orchestration.superset import server
    from orchestration.superset.bundle import BundleError
    from orchestration.superset.client import SupersetError
    from orchestration.superset.sync import ASSETS_DIR, sync

    if not settings.published_path.exists():
        print(f"No published warehouse at {settings.published_path}: the dashboards are synced after a build "
              "publishes one (`comptoir build`, then `comptoir superset sync`).", file=sys.stderr)
        return 1
    admin = server.admin_credential(settings.home)
    viewer = server.viewer_credential(settings.home)
    try:
        report = sync(url, admin.username, admin.password, assets_dir or ASSETS_DIR, settings.published_path,
                      viewer_password=viewer.password)
    except (BundleError, SupersetError, FileNotFoundError, LookupError) as error:
        print(f"error: superset sync failed: {error}", file=sys.stderr)
        return 1
    except requests.ConnectionError:
        print(f"error: no Superset answers at {url}: start it (`comptoir superset serve`) first", file=sys.stderr)
        return 1
    titles = ", ".join(title for title, _ in report.dashboards)
    print(f"Synced {len(report.dashboards)} dashboard(s) ({titles}), {report.charts} charts, {report.datasets} "
          f"datasets in {report.seconds:.1f}s (data as of {report.as_of or 'unknown'})")
    if report.pruned:
        print(f"Removed what superset/assets/ no longer has: {', '.join(report.pruned)}")
    return 0


def _print_credentials(settings: Settings) -> None:
    from orchestration.superset import server

    for role, cred in (("admin", server.admin_credential(settings.home)),
                       ("business viewer", server.viewer_credential(settings.home))):
        print(f"  {role + ':':<17}{cred.username} / {cred.password}   (from {cred.source})")


def _wait_for_http(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 180.0) -> None:
    """Poll `url` until it answers 200, failing early if one of the servers exits."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a server exited with status {process.returncode} while starting")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def cmd_serve(args: argparse.Namespace) -> int:
    """The Dagster UI and Superset together, each in its own process group; Ctrl-C (or SIGTERM) stops both."""
    from orchestration.superset import server

    settings = _apply_seeds(args.seeds)
    _prepare_dagster_home(settings)
    dagster_command = [
        sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions",
        "-h", args.host, "-p", str(args.dagster_port),
    ]
    # Ctrl-C (SIGINT, even when inherited as ignored) and SIGTERM both stop the two servers.
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    dagster: subprocess.Popen[bytes] | None = None
    superset: subprocess.Popen[bytes] | None = None
    status = 0
    try:
        dagster = subprocess.Popen(dagster_command, start_new_session=True)
        lines = [f"Dagster UI: http://{args.host}:{args.dagster_port}"]
        if not args.no_superset:
            if not server.is_initialised(settings.home):
                print("Initialising Superset (first run only, 1-2 minutes)...")
                server.init(settings.home)
            url = _superset_url(args.host, args.superset_port)
            superset = server.start_server(settings.home, args.host, args.superset_port)
            _wait_for_http(f"{url}/health", [dagster, superset])
            if _sync_superset(settings, url) != 0 and settings.published_path.exists():
                return 1
            lines.insert(0, f"Superset:   {url}   (log: {server.superset_dir(settings.home) / 'superset.log'})")
        running = [process for process in (dagster, superset) if process is not None]
        _wait_for_http(f"http://{args.host}:{args.dagster_port}/server_info", running)
        print("\n".join(lines))
        if superset is not None:
            _print_credentials(settings)
        print("Ctrl-C stops the servers.")
        while True:
            for process in (dagster, superset):
                if process is not None and process.poll() is not None:
                    print(f"error: a server stopped unexpectedly (status {process.returncode})", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        status = 0
    except (server.SupersetSetupError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    finally:
        # Dagster dev shuts its webserver and daemon down on SIGINT; gunicorn stops gracefully on SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if superset is not None:
            server.stop_process_group(superset, signal.SIGTERM)
        if dagster is not None:
            server.stop_process_group(dagster, signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return status


def cmd_superset(args: argparse.Namespace) -> int:
    """`comptoir superset init|sync|serve|publish`."""
    from orchestration.superset import server

    settings = Settings.from_env()
    private_home(settings.home)
    if args.superset_verb == "init":
        started = time.monotonic()
        try:
            done = server.init(settings.home, force=args.force)
        except server.SupersetSetupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        if done:
            print(f"Superset initialised in {time.monotonic() - started:.1f}s ({server.superset_dir(settings.home)})")
            _print_credentials(settings)
        else:
            print(f"Superset already initialised ({server.superset_dir(settings.home)}); --force redoes it")
        return 0
    if args.superset_verb == "sync":
        return _sync_superset(settings, args.url.rstrip("/"), args.assets)
    if args.superset_verb == "publish":
        from orchestration.publish import PublishError, publish_warehouse

        try:
            published = publish_warehouse(settings.warehouse_path, settings.published_path)
        except PublishError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"Published {published.path} ({published.tables} tables) in {published.seconds:.1f}s")
        return 0
    # serve: Superset alone, in the foreground
    try:
        if not server.is_initialised(settings.home):
            server.init(settings.home)
        process = server.start_server(settings.home, args.host, args.port)
    except server.SupersetSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, _raise_interrupt)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"Superset: {_superset_url(args.host, args.port)}  (Ctrl-C stops it)")
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0 if server.stop_process_group(process, signal.SIGTERM) is not None else 1


def cmd_bench(args: argparse.Namespace) -> int:
    """`comptoir bench`: builds beside their replayed SQL, pandas and a one-day incremental run; docs/benchmarks.md."""
    from orchestration.bench.datasets import SIZES
    from orchestration.bench.report import render
    from orchestration.bench.run import run_bench, run_scoring, to_json

    unknown = [size for size in args.lines if size not in SIZES]
    if unknown:
        print(f"error: unknown size(s) {', '.join(unknown)}; choose among {', '.join(SIZES)}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    private_home(settings.home)
    cache = Path(args.cache) if args.cache else settings.home / "bench"
    started = time.monotonic()
    try:
        results = run_bench(args.lines, args.repeat, cache, settings.seeds_dir)
        # Batch scoring with the first size's saved model (the file sizes, not the warehouse's, are what matter).
        scoring = run_scoring(cache, args.lines[0], args.score_rows, args.repeat) if args.score_rows else []
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    payload = to_json(results, scoring)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    out.write_text(render(payload["results"], args.repeat, time.monotonic() - started, payload["scoring"]),
                   encoding="utf-8")
    print(out.read_text(encoding="utf-8"))
    print(f"Wrote {out} and {out.with_suffix('.json')}")
    return 0


SCORE_EPILOG = """\
Input: .csv (header line), .json (array of objects) or .jsonl (one object per line): customer_id plus the
model's feature columns (as ml/propensity/features.py builds them); other columns are ignored.
Output: .csv (reason_1..reason_3) or .json/.jsonl (reasons as a list), with model_version and scored_at.
Exit status: 0 scored; 2 the input was rejected (unreadable, missing columns, invalid rows without
--skip-invalid, or no valid row at all), the offending rows listed on stderr; 1 no usable model or
another failure. Nothing is written unless the exit status is 0.
"""


def cmd_score(args: argparse.Namespace) -> int:
    from ml.propensity.baseline import MODEL_SCORER
    from ml.propensity.batch import InputError, InvalidRowsError, format_row_errors, score_file
    from ml.propensity.registry import ModelLoadError, ModelNotFoundError

    settings = Settings.from_env()
    # Progress of a long file on stderr (a line every few seconds); the model's per-chunk notes stay quiet.
    logging.getLogger("ml.propensity.batch").setLevel(logging.INFO)
    try:
        summary = score_file(
            Path(args.input),
            Path(args.output),
            settings.models_dir,
            version=args.model_version,
            skip_invalid=args.skip_invalid,
        )
    except InvalidRowsError as error:
        if args.skip_invalid:
            print(f"error: no valid row to score in {args.input}: {error}", file=sys.stderr)
        else:
            print(f"error: {error} in {args.input}; nothing written (--skip-invalid scores the others):",
                  file=sys.stderr)
        for line in format_row_errors(error.errors, invalid_rows=error.invalid_rows):
            print(f"  {line}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ModelNotFoundError, ModelLoadError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if summary.errors:
        print(f"warning: skipped {summary.invalid_rows:,} invalid row(s) of {summary.input_rows:,}:", file=sys.stderr)
        for line in format_row_errors(summary.errors, invalid_rows=summary.invalid_rows):
            print(f"  {line}", file=sys.stderr)
    print(f"Scored {summary.scored_rows:,} of {summary.input_rows:,} customers with {summary.model_version}")
    if summary.scorer != MODEL_SCORER:
        # The saved training published the baseline: say so where the user reads the result.
        print(f"  Scores come from the RFM baseline, not the model: {summary.scorer_reason}")
    print("  " + ", ".join(f"{name} {summary.segments.get(name, 0):,}" for name in ("Hot", "Warm", "Cold")))
    print(f"Wrote {summary.output_path.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comptoir", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{generate,build,bench,serve,score,superset}")

    gen = verbs.add_parser("generate", help="write a deterministic synthetic shop export")
    gen.add_argument("--out", required=True, help="folder to write the raw files and manifest.json into")
    gen.add_argument("--customers", type=int, default=1500, help="number of customers (default 1500)")
    gen.add_argument("--days", type=int, default=731, help="days of history (default 731: 2024-2025)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1),
                     help="first day, YYYY-MM-DD (default 2024-01-01)")
    gen.add_argument("--defect-rate", type=float, default=0.02,
                     help="share of defective rows injected (default 0.02)")
    gen.add_argument("--subcent-rate", type=float, default=0.0,
                     help="share of order lines sold at a discounted price below the cent, e.g. 11.184, "
                          "and of product costs below the cent (default 0: whole cents)")
    gen.set_defaults(func=cmd_generate)

    build = verbs.add_parser("build", help="load the landing files and build the warehouse")
    build.add_argument("--seeds", help=f"landing folder (default ${SEEDS_ENV} or ./seeds)")
    build.add_argument("--full-refresh", action="store_true",
                       help="rebuild every dbt model from the whole raw layer instead of incrementally")
    build.add_argument("--no-refit", action="store_true",
                       help="what the daily schedule runs: score with the saved models instead of re-fitting them")
    build.add_argument("--report-json", metavar="FILE",
                       help="write where the time went (start-up, each step, dbt by kind of node) as JSON")
    build.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS",
                       help="how long to wait for another process holding the warehouse (default 60)")
    build.set_defaults(func=cmd_build)

    bench = verbs.add_parser(
        "bench", help="measure builds against their replayed SQL, pandas and a one-day incremental run",
        description="Builds (and caches under $COMPTOIR_HOME/bench) landing folders of each size, then measures, "
        "interleaved: a full `comptoir build`, its compiled SQL replayed in DuckDB, a pandas baseline of the headline "
        "marts, and an incremental build of one new day; then `comptoir score` on generated files of N customers "
        "(--score-rows). Writes docs/benchmarks.md and benchmarks.json.",
    )
    bench.add_argument("--lines", nargs="+", default=["sample", "1M"], metavar="SIZE",
                       help="sizes to measure: sample, 1M, 10M, 50M (default: sample 1M; 10M takes ~15 min)")
    bench.add_argument("--repeat", type=int, default=1, help="rounds; the report gives medians (default 1)")
    bench.add_argument("--out", default="docs/benchmarks.md", help="report path (default docs/benchmarks.md)")
    bench.add_argument("--cache", help="where landing folders and runs are kept (default $COMPTOIR_HOME/bench)")
    bench.add_argument("--score-rows", type=int, nargs="*", default=[100_000, 1_000_000], metavar="N",
                       help="also measure `comptoir score` on generated CSV files of N customers (default: 100000 "
                       "1000000; none: skip it)")
    bench.set_defaults(func=cmd_bench)

    serve = verbs.add_parser("serve", help="serve Superset (synced dashboards) and the Dagster UI until Ctrl-C")
    serve.add_argument("--seeds", help=f"landing folder (default ${SEEDS_ENV} or ./seeds)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--dagster-port", type=int, default=DAGSTER_PORT)
    serve.add_argument("--superset-port", type=int, default=SUPERSET_PORT)
    serve.add_argument("--no-superset", action="store_true", help="serve the Dagster UI only")
    serve.set_defaults(func=cmd_serve)

    score = verbs.add_parser(
        "score",
        help="score customers from a CSV/JSON file with the saved propensity model",
        description="Score customers given in a file with the propensity model saved under $COMPTOIR_HOME/models.",
        epilog=SCORE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("--input", required=True, help="customers to score: .csv, .json or .jsonl")
    score.add_argument("--output", required=True, help="where to write the scores: .csv, .json or .jsonl")
    score.add_argument("--skip-invalid", action="store_true",
                       help="score the valid rows and list the invalid ones instead of failing")
    score.add_argument("--model-version", help="a saved model version (default: the latest)")
    score.set_defaults(func=cmd_score)

    bi = verbs.add_parser(
        "superset",
        help="Superset: initialise it, publish the warehouse, sync the dashboards, serve it",
        description="Superset runs from .venv-bi with superset/superset_config.py; its files live in "
        "$COMPTOIR_HOME/superset. Passwords: $COMPTOIR_SUPERSET_ADMIN_PASSWORD / $COMPTOIR_SUPERSET_VIEWER_PASSWORD, "
        "else generated once into $COMPTOIR_HOME/superset/<user>_password.",
    )
    bi_verbs = bi.add_subparsers(dest="superset_verb", required=True, metavar="{init,sync,serve,publish}")
    bi_init = bi_verbs.add_parser("init", help="create the metadata database, the admin and the roles (once)")
    bi_init.add_argument("--force", action="store_true", help="run it again even if already done")
    bi_sync = bi_verbs.add_parser("sync", help="import superset/assets/ into a running Superset, set the roles")
    bi_sync.add_argument("--url", default=f"http://127.0.0.1:{SUPERSET_PORT}")
    bi_sync.add_argument("--assets", type=Path, help="the assets folder to import (default: superset/assets/)")
    bi_verbs.add_parser("publish", help="publish the current build file for the dashboards (atomic copy)")
    bi_serve = bi_verbs.add_parser("serve", help="serve Superset alone until Ctrl-C")
    bi_serve.add_argument("--host", default="127.0.0.1")
    bi_serve.add_argument("--port", type=int, default=SUPERSET_PORT)
    bi.set_defaults(func=cmd_superset)
    return parser


def main(argv: list[str] | None = None) -> int:
    # First of all: everything written from here on, by this process and the ones it starts (dbt, Dagster,
    # Superset), is owner only. Scores written by `comptoir score` too: they name customers.
    make_private()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own progress at INFO; third-party libraries (alembic, dagster) only when they warn.
    logging.getLogger("orchestration").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
