"""`comptoir generate`: a deterministic synthetic shop export (orchestration/generator)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from orchestration.cli import summaries
from orchestration.generator import generate


def run(args: argparse.Namespace) -> int:
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
    summaries.generated(out, manifest.get("rows", {}), time.monotonic() - started)
    return 0
