"""`comptoir`: the everyday verbs (generate, build, serve)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from orchestration.settings import HOME_ENV, SEEDS_ENV, Settings

log = logging.getLogger("comptoir")

DAGSTER_PORT = 3000
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


def _print_build_summary(settings: Settings, result: object) -> None:
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


def cmd_build(args: argparse.Namespace) -> int:
    settings = _apply_seeds(args.seeds)
    _prepare_dagster_home(settings)
    from dagster import DagsterInstance

    from orchestration.definitions import BUILD_JOB_NAME, build_definitions

    started = time.monotonic()
    job = build_definitions(settings).resolve_job_def(BUILD_JOB_NAME)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            # Step events stay in the Dagster UI; the terminal gets warnings and our summary.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data is not None:
                failure = event.step_failure_data
                if failure.user_failure_data and failure.user_failure_data.description:
                    message = failure.user_failure_data.description
                else:
                    message = failure.error.to_string() if failure.error else "unknown error"
                print(f"error in {event.step_key}: {message.strip()}", file=sys.stderr)
        print("Build failed; a source that failed keeps its previous raw table.", file=sys.stderr)
        return 1
    _print_build_summary(settings, result)
    print(f"Built in {time.monotonic() - started:.1f}s")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comptoir", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="{generate,build,serve}")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own progress at INFO; third-party libraries (alembic, dagster) only when they warn.
    logging.getLogger("orchestration").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
