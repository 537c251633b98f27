"""Batch scoring measured: `comptoir score` on generated files of 100,000 and 1,000,000 customers.

The customers are a built warehouse's latest feature rows (build_features the day after its as-of date), repeated
with new customer ids until the size is reached; the model is the one saved in that home. Each file is scored by
`comptoir score` in a process of its own, measured like the builds (wall time and peak RSS of the process tree,
orchestration/bench/measure.py). `comptoir bench` runs it on its full build's home; alone:

    python -m orchestration.bench.scoring --home $COMPTOIR_HOME --work /tmp/scoring --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

import duckdb
import numpy as np
import pandas as pd

from orchestration.bench.measure import emit_json, run_measured
from orchestration.settings import REPO_ROOT, WAREHOUSE_FILE

log = logging.getLogger(__name__)

SCORING_ROWS = (100_000, 1_000_000)
FORMATS = ("csv", "json", "jsonl")


def feature_rows(warehouse: Path) -> pd.DataFrame:
    """The warehouse's customers as `comptoir score` takes them: build_features at the scoring cutoff."""
    from ml.propensity.features import build_features, read_cutoff_plan

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return build_features(con, [read_cutoff_plan(con).scoring_cutoff])


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _write_block(block: pd.DataFrame, handle: TextIO, kind: str, first: bool) -> None:
    if kind == "csv":
        block.to_csv(handle, index=False, header=first)
    elif kind == "jsonl":
        handle.write("".join(json.dumps(r, default=str) + "\n" for r in _records(block)))
    else:
        handle.write(("[" if first else ",\n") + ",\n".join(json.dumps(r, default=str) for r in _records(block)))


def write_input(rows: pd.DataFrame, n_rows: int, path: Path) -> Path:
    """``n_rows`` customers: ``rows`` repeated block after block, customer ids B0000001..., as CSV/JSON/JSON lines."""
    kind = path.suffix.lstrip(".")
    block_rows = len(rows)
    template = rows.drop(columns=["customer_id"]).reset_index(drop=True)
    template.insert(0, "customer_id", "")
    partial = path.with_name(path.name + ".part")  # renamed when complete: a later run never reuses half a file
    with partial.open("w", encoding="utf-8") as handle:
        for start in range(0, n_rows, block_rows):
            count = min(block_rows, n_rows - start)
            block = template.iloc[:count].copy()
            block["customer_id"] = np.char.mod("B%07d", np.arange(start + 1, start + count + 1))
            _write_block(block, handle, kind, first=start == 0)
        if kind == "json":
            handle.write("]\n")
    partial.replace(path)
    return path


def _data_rows(path: Path) -> int:
    """Rows in an output file: lines less the header (CSV, one line per row), records (JSON lines, JSON)."""
    if path.suffix == ".json":
        import ijson

        with path.open("rb") as handle:
            return sum(1 for _ in ijson.items(handle, "item"))
    with path.open("rb") as handle:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return lines - (1 if path.suffix == ".csv" else 0)


def measure_scoring(home: Path, work: Path, sizes: list[int], formats: list[str]) -> list[dict[str, Any]]:
    """Score a generated file of each size and format with the model saved in ``home``; one result per run."""
    work.mkdir(parents=True, exist_ok=True)
    rows = feature_rows(home / WAREHOUSE_FILE)
    env = {**os.environ, "COMPTOIR_HOME": str(home)}
    results = []
    for n_rows in sizes:
        for kind in formats:
            source = work / f"customers-{n_rows}.{kind}"
            if not source.exists():
                log.info("writing %s (%d rows)", source, n_rows)
                write_input(rows, n_rows, source)
            target = work / f"scores-{n_rows}.{kind}"
            target.unlink(missing_ok=True)
            log.info("scoring %s", source)
            command = [sys.executable, "-m", "orchestration.cli", "score", "--input", str(source), "--output",
                       str(target)]
            measured = run_measured(command, env=env, cwd=REPO_ROOT, log=work / "scoring.log")
            if measured.returncode != 0:
                raise RuntimeError(f"comptoir score {source} failed with status {measured.returncode}; "
                                   f"see {work / 'scoring.log'}")
            scored = _data_rows(target)
            if scored != n_rows:
                raise RuntimeError(f"{target} holds {scored:,} rows, not {n_rows:,}")
            results.append({"rows": n_rows, "format": kind, "seconds": measured.seconds,
                            "peak_rss_mb": measured.peak_rss_mb, "input_bytes": source.stat().st_size})
            target.unlink()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a built COMPTOIR_HOME (warehouse and saved model)")
    parser.add_argument("--work", type=Path, required=True, help="where the generated files go (kept for reruns)")
    parser.add_argument("--rows", type=int, nargs="+", default=list(SCORING_ROWS))
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=["csv"])
    parser.add_argument("--json", type=Path, help="write the results here (default: standard output)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    emit_json({"scoring": measure_scoring(args.home.resolve(), args.work.resolve(), args.rows, args.formats)},
              args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
