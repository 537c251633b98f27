"""`comptoir bench`: builds beside their replayed SQL, pandas and a one-day incremental run, the API's and the
dashboards' latency on each size's build, batch scoring; docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from orchestration.bench.datasets import SIZES
from orchestration.bench.report import render
from orchestration.bench.run import run_bench, run_latency, run_scoring, to_json
from orchestration.settings import Settings, private_home


def run(args: argparse.Namespace) -> int:
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
        if not args.no_latency:
            run_latency(results, cache, args.latency_requests, args.chart_rounds)
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
