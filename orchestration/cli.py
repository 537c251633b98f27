"""`comptoir`: the everyday verbs (generate, build, serve, score)."""

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

from orchestration.settings import HOME_ENV, SEEDS_ENV, Settings

log = logging.getLogger("comptoir")

DAGSTER_PORT = 3000
QUARANTINE = "dq_quarantine"  # staging model holding every row a data-quality rule set aside
_DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def _apply_seeds(seeds: str | None) -> Settings:
    """--seeds overrides COMPTOIR_SEEDS_DIR; the environment carries it to subprocesses too."""
    if seeds:
        os.environ[SEEDS_ENV] = str(Path(seeds).resolve())
    settings = Settings.from_env()
    os.environ[SEEDS_ENV] = str(settings.seeds_dir)
    os.environ[HOME_ENV] = str(settings.home)
    return settings


def _prepare_dagster_home(settings: Settings) -> Path:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
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


def _print_ml_summary(result: object) -> None:
    """One line per ML table, from the `summary` each ML asset puts on its materialization."""
    from dagster import ExecuteInProcessResult

    assert isinstance(result, ExecuteInProcessResult)
    lines = []
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is None or materialization.asset_key.path[0] != "ml":
            continue
        summary = materialization.metadata.get("summary")
        if summary is not None:
            lines.append(f"  {'.'.join(materialization.asset_key.path):<22}{getattr(summary, 'value', summary)}")
    if lines:
        print("Models (schema ml):")
        print("\n".join(lines))


def _dbt_summary(settings: Settings, run_id: str) -> object | None:
    """The dbt run's summary from its run_results.json, or None when dbt did not run."""
    from orchestration.defs.dbt.resources import RUN_RESULTS_FILE, run_artifacts_dir
    from orchestration.defs.dbt.results import summarise_run_results

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
    from orchestration.defs.dbt.results import RunSummary

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
    """Terminal filter: Dagster's own loggers only when something is an error."""
    return not record.name.startswith("dagster") or record.levelno >= logging.ERROR


def cmd_build(args: argparse.Namespace) -> int:
    settings = _apply_seeds(args.seeds)
    _prepare_dagster_home(settings)
    from dagster import DagsterInstance

    from orchestration.defs.dbt.project import DbtManifestError

    started = time.monotonic()
    try:
        # Importing the definitions re-parses the dbt project when it changed.
        from orchestration.definitions import WAREHOUSE_JOB_NAME, build_definitions
    except DbtManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    from orchestration.defs.dbt.resources import run_artifacts_dir

    job = build_definitions(settings).resolve_job_def(WAREHOUSE_JOB_NAME)
    run_id = str(uuid.uuid4())  # known before the run: it names the run's dbt artifacts folder
    run_dir = run_artifacts_dir(settings.warehouse_path, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    dbt_output = run_dir / "dbt-output.log"
    if not args.verbose:
        # dagster-dbt's notes (subsetting, tests reported as observations) stay in the Dagster UI.
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_dagster)
    with DagsterInstance.get() as instance, contextlib.ExitStack() as stack:
        if not args.verbose:
            # dagster-dbt echoes dbt's console output on stdout: keep it in a file, print our summary.
            stream = stack.enter_context(dbt_output.open("w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(stream))
        # One run: raw load, then dbt build (models and tests) once every raw table is written.
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
            # Step events stay in the Dagster UI; the terminal gets warnings and our summary.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    _print_raw_summary(settings, result)
    summary = _dbt_summary(settings, run_id)
    _print_dbt_summary(settings, summary)
    _print_ml_summary(result)
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


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _apply_seeds(args.seeds)
    _prepare_dagster_home(settings)
    command = [
        sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions",
        "-h", args.host, "-p", str(args.dagster_port),
    ]
    print(f"Dagster UI: http://{args.host}:{args.dagster_port}  (Ctrl-C stops it)")
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # dagster dev shuts its webserver and daemon down on SIGINT; give it time to do so.
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
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
    from ml.propensity.batch import InputError, InvalidRowsError, format_row_errors, score_file
    from ml.propensity.registry import ModelLoadError, ModelNotFoundError

    settings = Settings.from_env()
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
        for line in format_row_errors(error.errors):
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
        for line in format_row_errors(summary.errors):
            print(f"  {line}", file=sys.stderr)
    print(f"Scored {summary.scored_rows:,} of {summary.input_rows:,} customers with {summary.model_version}")
    print("  " + ", ".join(f"{name} {summary.segments.get(name, 0):,}" for name in ("Hot", "Warm", "Cold")))
    print(f"Wrote {summary.output_path.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comptoir", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{generate,build,serve,score}")

    gen = verbs.add_parser("generate", help="write a deterministic synthetic shop export")
    gen.add_argument("--out", required=True, help="folder to write the raw files and manifest.json into")
    gen.add_argument("--customers", type=int, default=1500, help="number of customers (default 1500)")
    gen.add_argument("--days", type=int, default=731, help="days of history (default 731: 2024-2025)")
    gen.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    gen.add_argument("--start", type=date.fromisoformat, default=date(2024, 1, 1),
                     help="first day, YYYY-MM-DD (default 2024-01-01)")
    gen.add_argument("--defect-rate", type=float, default=0.02,
                     help="share of defective rows injected (default 0.02)")
    gen.set_defaults(func=cmd_generate)

    build = verbs.add_parser("build", help="load the landing files and build the warehouse")
    build.add_argument("--seeds", help=f"landing folder (default ${SEEDS_ENV} or ./seeds)")
    build.set_defaults(func=cmd_build)

    serve = verbs.add_parser("serve", help="serve the Dagster UI until Ctrl-C")
    serve.add_argument("--seeds", help=f"landing folder (default ${SEEDS_ENV} or ./seeds)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--dagster-port", type=int, default=DAGSTER_PORT)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own progress at INFO; third-party libraries (alembic, dagster) only when they warn.
    logging.getLogger("orchestration").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
