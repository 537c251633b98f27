"""`comptoir score`: score the customers of a file with the saved propensity model (ml/propensity/batch.py)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ml.propensity.baseline import MODEL_SCORER
from ml.propensity.batch import InputError, InvalidRowsError, format_row_errors, score_file
from ml.propensity.registry import ModelLoadError, ModelNotFoundError
from orchestration.cli import summaries
from orchestration.settings import Settings


def run(args: argparse.Namespace) -> int:
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
            header = f"error: no valid row to score in {args.input}: {error}"
        else:
            header = f"error: {error} in {args.input}; nothing written (--skip-invalid scores the others):"
        summaries.row_errors(header, format_row_errors(error.errors, invalid_rows=error.invalid_rows))
        return 2
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ModelNotFoundError, ModelLoadError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if summary.errors:
        summaries.row_errors(f"warning: skipped {summary.invalid_rows:,} invalid row(s) of {summary.input_rows:,}:",
                             format_row_errors(summary.errors, invalid_rows=summary.invalid_rows))
    summaries.scored(summary, MODEL_SCORER)
    return 0
