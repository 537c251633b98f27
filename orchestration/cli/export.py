"""`comptoir export`: one business table of the published warehouse as a Parquet, CSV or JSON file
(orchestration/lake.py; the whole lake is written after each build)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from orchestration.cli import summaries
from orchestration.lake import ExportError, NoWarehouseError, export_table
from orchestration.settings import Settings


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        export = export_table(
            settings.published_path,
            args.table,
            args.format,
            Path(args.out),
            include_pii=args.include_pii,
            date_from=args.date_from,
            date_to=args.date_to,
        )
    except NoWarehouseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except ExportError as error:
        print(f"error: {error}; nothing written", file=sys.stderr)
        return 2
    except (OSError, duckdb.Error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    summaries.exported(export, args.include_pii)
    return 0
