"""`comptoir`: the everyday verbs (generate, build, dbt, bench, serve, score, export, superset, api).

The parser (parser.py) is cheap to import; each verb lives in its own module, imported only when that verb runs
(`comptoir score` never imports Dagster), and what the verbs print comes from summaries.py.
"""

from __future__ import annotations

import importlib
import logging

from orchestration.cli.parser import build_parser
from orchestration.settings import make_private

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    # First of all: everything written from here on, by this process and the ones it starts (dbt, Dagster,
    # Superset), is owner only. Scores written by `comptoir score` too: they name customers.
    make_private()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Our own progress at INFO; third-party libraries (alembic, dagster) only when they warn.
    logging.getLogger("orchestration").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    command = importlib.import_module(f"orchestration.cli.{args.command}")
    return int(command.run(args))
