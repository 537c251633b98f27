"""The `comptoir` command line: every verb's arguments, and which module runs it (`command`).

Kept free of heavy imports: `comptoir --help` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

from api.keys import SCOPES
from orchestration.settings import API_PORT, DAGSTER_PORT, SEEDS_ENV, SUPERSET_PORT

VERBS = "{generate,build,dbt,bench,serve,score,export,report,superset,api}"
_SEEDS_HELP = f"landing folder (default ${SEEDS_ENV} or ./seeds)"

SCORE_EPILOG = """\
Input: .csv (header line), .json (array of objects) or .jsonl (one object per line): customer_id plus the
model's feature columns (as ml/propensity/features.py builds them); other columns are ignored.
Output: .csv (reason_1..reason_3) or .json/.jsonl (reasons as a list), with model_version and scored_at.
Exit status: 0 scored; 2 the input was rejected (unreadable, missing columns, invalid rows without
--skip-invalid, or no valid row at all), the offending rows listed on stderr; 1 no usable model or
another failure. Nothing is written unless the exit status is 0.
"""

DBT_EPILOG = """\
Examples:
  comptoir dbt -- build --select mart_daily_sales+
  comptoir dbt -- test --select fct_orders
  comptoir dbt -- docs generate
dbt runs in dbt_project/ with its profile, on the build warehouse ($COMPTOIR_HOME/comptoir.duckdb); its target
folder is $COMPTOIR_HOME/dbt/dev. Nothing is published: `comptoir build --changed` rebuilds what changed and
publishes it.
"""


def _generate(verbs: argparse._SubParsersAction) -> None:
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
    gen.set_defaults(command="generate")


def _build(verbs: argparse._SubParsersAction) -> None:
    build = verbs.add_parser("build", help="load the landing files and build the warehouse")
    build.add_argument("--seeds", help=_SEEDS_HELP)
    mode = build.add_mutually_exclusive_group()
    mode.add_argument("--full-refresh", action="store_true",
                      help="rebuild every dbt model from the whole raw layer instead of incrementally")
    mode.add_argument("--no-refit", action="store_true",
                      help="what the daily schedule runs: score with the saved models instead of re-fitting them")
    mode.add_argument("--changed", action="store_true",
                      help="the edit loop: rebuild and test only the dbt models changed since the last build and "
                           "their children (dbt state:modified+), then publish; no raw load, no ML")
    build.add_argument("--report-json", metavar="FILE",
                       help="write where the time went (start-up, each step, dbt by kind of node) as JSON")
    build.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS",
                       help="how long to wait for another process holding the warehouse (default 60)")
    build.set_defaults(command="build")


def _dbt(verbs: argparse._SubParsersAction) -> None:
    dbt = verbs.add_parser(
        "dbt", help="run dbt with the project's profile and environment: comptoir dbt -- <dbt arguments>",
        epilog=DBT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dbt.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="-- DBT ARGS",
                     help="everything after `--` goes to dbt as is")
    dbt.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS",
                     help="how long to wait for a build holding the warehouse (default 60)")
    dbt.set_defaults(command="dbt")


def _bench(verbs: argparse._SubParsersAction) -> None:
    bench = verbs.add_parser(
        "bench", help="measure builds against their replayed SQL, pandas and a one-day incremental run",
        description="Builds (and caches under $COMPTOIR_HOME/bench) landing folders of each size, then measures, "
        "interleaved: a full `comptoir build`, its compiled SQL replayed in DuckDB, a pandas baseline of the headline "
        "marts, and an incremental build of one new day; then, on each size's full build, the HTTP API's latency "
        "(16 concurrent clients) and every dashboard chart's through Superset (--no-latency skips them); then "
        "`comptoir score` on generated files of N customers (--score-rows). Writes docs/benchmarks.md and "
        "benchmarks.json.",
    )
    bench.add_argument("--lines", nargs="+", default=["sample", "1M"], metavar="SIZE",
                       help="sizes to measure: sample, 1M, 10M, 50M (default: sample 1M; 10M takes ~15 min)")
    bench.add_argument("--repeat", type=int, default=1, help="rounds; the report gives medians (default 1)")
    bench.add_argument("--out", default="docs/benchmarks.md", help="report path (default docs/benchmarks.md)")
    bench.add_argument("--cache", help="where landing folders and runs are kept (default $COMPTOIR_HOME/bench)")
    bench.add_argument("--score-rows", type=int, nargs="*", default=[100_000, 1_000_000], metavar="N",
                       help="also measure `comptoir score` on generated CSV files of N customers (default: 100000 "
                       "1000000; none: skip it)")
    bench.add_argument("--no-latency", action="store_true",
                       help="skip the latency measures: the HTTP API under 16 concurrent clients and every dashboard "
                       "chart through Superset, on each size's full build (run by default, after the build rounds)")
    bench.add_argument("--latency-requests", type=int, default=400, metavar="N",
                       help="requests per API endpoint in the latency measure (default 400)")
    bench.add_argument("--chart-rounds", type=int, default=2, metavar="N",
                       help="rounds over every dashboard chart (default 2; 0: measure the API only)")
    bench.set_defaults(command="bench")


def _serve(verbs: argparse._SubParsersAction) -> None:
    serve = verbs.add_parser(
        "serve", help="serve Superset (synced dashboards), the Dagster UI and the API until Ctrl-C")
    serve.add_argument("--seeds", help=_SEEDS_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--dagster-port", type=int, default=DAGSTER_PORT)
    serve.add_argument("--superset-port", type=int, default=SUPERSET_PORT)
    serve.add_argument("--api-port", type=int, default=API_PORT)
    serve.add_argument("--no-superset", action="store_true", help="serve the Dagster UI (and the API) only")
    serve.add_argument("--no-api", action="store_true", help="do not serve the HTTP API")
    serve.set_defaults(command="serve")


def _score(verbs: argparse._SubParsersAction) -> None:
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
    score.set_defaults(command="score")


EXPORT_EPILOG = """\
Examples:
  comptoir export --table marts.mart_daily_sales --format csv --out exports --from 2025-01-01 --to 2025-03-31
  comptoir export --table ml.customer_scores --format parquet --out exports
Writes OUT/<schema>.<table>.<format> (replaced at once if it exists): Parquet with the warehouse's types, CSV with
a header and CRLF rows (text cells a spreadsheet would run as a formula get a leading '), JSON as one array of
objects. Only schemas marts and ml; personal columns (names, e-mails, phones, addresses) are left out unless
--include-pii. --from/--to filter on the table's date (order_date, date_day, month_start, cohort_month or
cohort_week, the first it has). The whole lake, every business table as Parquet partitioned by year and month,
is written after each build under $COMPTOIR_HOME/lake.
Exit status: 0 exported; 2 the table or the range was refused; 1 no published warehouse or another failure.
"""
REPORT_EPILOG = """\
Examples:
  comptoir report --period 2025-W48
  comptoir report --last month --email owner@example.com
Writes $COMPTOIR_HOME/reports/<period>/report.html and report.pdf (replaced whole), and keeps the customers' RFM
segments there, so the next report of the same kind shows who moved. Mail: $COMPTOIR_SMTP_HOST, _PORT, _USER,
_PASSWORD, _SECURITY (starttls, ssl or none) and $COMPTOIR_MAIL_FROM.
Exit status: 0 written (and mailed); 2 a period that is not one; 1 no published warehouse, or mail failed.
"""


def _export(verbs: argparse._SubParsersAction) -> None:
    export = verbs.add_parser(
        "export", help="export a business table of the published warehouse as Parquet, CSV or JSON",
        description="Export one table of schema marts or ml from the published warehouse.",
        epilog=EXPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--table", required=True, metavar="SCHEMA.TABLE", help="e.g. marts.mart_daily_sales")
    export.add_argument("--format", choices=("parquet", "csv", "json"), default="parquet",
                        help="file format (default parquet)")
    export.add_argument("--out", required=True, metavar="DIR", help="folder to write the file into")
    export.add_argument("--from", dest="date_from", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="first day to export (inclusive), on the table's date column")
    export.add_argument("--to", dest="date_to", type=date.fromisoformat, metavar="YYYY-MM-DD",
                        help="last day to export (inclusive)")
    export.add_argument("--include-pii", action="store_true",
                        help="keep the personal columns (names, e-mails, phones, addresses): left out by default")
    export.set_defaults(command="export")


def _report(verbs: argparse._SubParsersAction) -> None:
    report = verbs.add_parser(
        "report", help="write the weekly or monthly business report (HTML and PDF), and mail it if asked",
        description="Write the business report of one period from the published warehouse into "
        "$COMPTOIR_HOME/reports/<period>/ (report.html, report.pdf).",
        epilog=REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--period", metavar="YYYY-Www|YYYY-MM", help="an ISO week (2025-W48) or a month (2025-11)")
    which.add_argument("--last", choices=("week", "month"),
                       help="the last week or month complete in the warehouse's data (what the schedules write)")
    report.add_argument("--email", nargs="*", metavar="ADDRESS",
                        help="mail the PDF to these addresses (none given: $COMPTOIR_REPORT_TO), through the SMTP "
                             "server of $COMPTOIR_SMTP_HOST")
    report.set_defaults(command="report")


def _superset(verbs: argparse._SubParsersAction) -> None:
    bi = verbs.add_parser(
        "superset",
        help="Superset: initialise it, publish the warehouse, sync the dashboards, serve it",
        description="Superset runs from .venv-bi with superset/superset_config.py; its files live in "
        "$COMPTOIR_HOME/superset. Passwords: $COMPTOIR_SUPERSET_ADMIN_PASSWORD / $COMPTOIR_SUPERSET_VIEWER_PASSWORD, "
        "else generated once into $COMPTOIR_HOME/superset/<user>_password.",
    )
    bi_verbs = bi.add_subparsers(dest="superset_verb", required=True, metavar="{init,sync,follow,serve,publish}")
    bi_init = bi_verbs.add_parser("init", help="create the metadata database, the admin and the roles (once)")
    bi_init.add_argument("--force", action="store_true", help="run it again even if already done")
    bi_sync = bi_verbs.add_parser("sync", help="import superset/assets/ into a running Superset, set the roles")
    bi_sync.add_argument("--url", default=f"http://127.0.0.1:{SUPERSET_PORT}")
    bi_sync.add_argument("--assets", type=Path, help="the assets folder to import (default: superset/assets/)")
    bi_follow = bi_verbs.add_parser(
        "follow", help="wait for the first publish, sync, then re-sync after every publish until stopped")
    bi_follow.add_argument("--url", default=f"http://127.0.0.1:{SUPERSET_PORT}")
    bi_verbs.add_parser("publish", help="publish the current build file for the dashboards (atomic copy)")
    bi_serve = bi_verbs.add_parser("serve", help="serve Superset alone until Ctrl-C")
    bi_serve.add_argument("--host", default="127.0.0.1")
    bi_serve.add_argument("--port", type=int, default=SUPERSET_PORT)
    bi.set_defaults(command="superset")


API_EPILOG = """\
Keys: `comptoir api keys create --name crm --scope customers --scope score` prints the key once; the API stores
only its hash ($COMPTOIR_HOME/api/keys.json). Scopes: aggregates (sales, products, segments, customer figures
without personal columns), customers (names, e-mails, cities too), score (POST /v1/score, /v1/score/batch).
Calls: curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8000/v1/kpis ; the schema is at /docs.
"""


def default_api_workers() -> int:
    """One API process per core (Python answers one request at a time per process), at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _api(verbs: argparse._SubParsersAction) -> None:
    api = verbs.add_parser(
        "api", help="serve the HTTP API (default) or manage its keys",
        description="The HTTP API over the published warehouse and the saved models (OpenAPI at /docs).",
        epilog=API_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=API_PORT)
    api.add_argument("--workers", type=int, default=default_api_workers(),
                     help="server processes (default: one per core, at most 4)")
    api_verbs = api.add_subparsers(dest="api_verb", metavar="{serve,keys}")
    serve = api_verbs.add_parser("serve", help="serve the API until Ctrl-C (the default)")
    # SUPPRESS: given after `serve` they count, else the values given before it (or the defaults) stay
    serve.add_argument("--host", default=argparse.SUPPRESS)
    serve.add_argument("--port", type=int, default=argparse.SUPPRESS)
    serve.add_argument("--workers", type=int, default=argparse.SUPPRESS)
    keys = api_verbs.add_parser("keys", help="create, list or revoke API keys")
    key_verbs = keys.add_subparsers(dest="keys_verb", required=True, metavar="{create,list,revoke}")
    create = key_verbs.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--name", required=True, help="who or what uses the key, e.g. crm")
    create.add_argument("--scope", action="append", required=True, choices=SCOPES,
                        dest="scopes", help="a scope the key grants (repeat for several)")
    key_verbs.add_parser("list", help="list the keys (never their secrets)")
    revoke = key_verbs.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the key's id, as `list` shows it")
    api.set_defaults(command="api", api_verb="serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comptoir", description="Comptoir: the everyday verbs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar=VERBS)
    for add in (_generate, _build, _dbt, _bench, _serve, _score, _export, _report, _superset, _api):
        add(verbs)
    return parser
