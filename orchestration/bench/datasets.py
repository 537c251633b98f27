"""Landing folders for the benchmark: the committed sample and generated 1 M / 10 M / 50 M order-line shops.

Generated folders are cached (generating 10 M lines takes minutes): a folder is reused when its manifest records the
same generator arguments. For the incremental measurement each folder is split into its history (every day but the
last) and the last day's lines of orders, web sessions and e-mail events, written as `<stem>_<day>.csv` files: the
way a shop that exports one file per day delivers them.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.contract import EMAIL_EVENTS, ORDERS, WEB_SESSIONS, Source
from orchestration.generator import MANIFEST_FILE

log = logging.getLogger(__name__)


# Customers per size: the generator makes about 16 order lines per customer over two years.
GENERATED_SIZES: dict[str, int] = {"1M": 63_000, "10M": 630_000, "50M": 3_150_000}
SAMPLE = "sample"
SIZES = (SAMPLE, *GENERATED_SIZES)
# Sources that grow by the day: their last day is delivered as a file of its own.
DAILY_SOURCES: tuple[Source, ...] = (ORDERS, WEB_SESSIONS, EMAIL_EVENTS)
# The first ISO-8601 timestamp of a line is its event time in each daily source (order_date, started_at, event_at).
_TIMESTAMP_DAY = r"(\d{4}-\d{2}-\d{2})T\d{2}:"
_NO_DELIMITER = r"E'\x1f\x1e\x1d\x1c'"


@dataclass(frozen=True)
class Landing:
    """One benchmark data set: the complete folder, and the same data as history + one new day."""

    size: str
    full: Path  # every file, as generated
    history: Path  # every day but the last
    day_files: tuple[Path, ...]  # the last day, one file per daily source
    last_day: str
    order_lines: int  # data lines of orders (all files)


def _generator_arguments(folder: Path) -> dict[str, object] | None:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest.get("generator")


def ensure_generated(size: str, cache: Path) -> Path:
    """The generated landing folder of `size` under `cache`, generated when missing or made with other arguments."""
    from orchestration.generator import generate
    from orchestration.generator.config import GeneratorConfig

    customers = GENERATED_SIZES[size]
    folder = cache / size / "full"
    expected = GeneratorConfig(customers=customers)
    recorded = _generator_arguments(folder)
    if recorded and recorded.get("customers") == customers and recorded.get("seed") == expected.seed:
        return folder
    log.info("generating the %s landing folder (%d customers) into %s; this is cached for later runs",
             size, customers, folder)
    shutil.rmtree(folder, ignore_errors=True)
    generate(folder, customers=customers)
    return folder


def _last_day(folder: Path) -> str:
    """The generator's last day (the manifest's `end`): the day the incremental run adds."""
    arguments = _generator_arguments(folder)
    if not arguments or "end" not in arguments:
        raise ValueError(f"{folder / MANIFEST_FILE} does not say which day the data ends on")
    return str(arguments["end"])


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _split_file(con: duckdb.DuckDBPyConnection, source: Path, history: Path, day_file: Path, day: str) -> int:
    """Write `source`'s lines of `day` to `day_file` (with the header) and the others to `history`, byte for byte.

    Lines are read whole (no CSV parsing, so malformed lines move like any other); returns the day's data lines.
    """
    con.execute(
        f"""create or replace temp table _split as
        select row_number() over () as n, line,
               regexp_extract(line, {_quote(_TIMESTAMP_DAY)}, 1) = {_quote(day)} as is_day
        from read_csv({_quote(str(source))}, columns={{'line': 'VARCHAR'}}, header=false, delim={_NO_DELIMITER},
                      quote='', escape='', auto_detect=false, strict_mode=false, parallel=false,
                      max_line_size=16777216)"""
    )
    for target, condition in ((history, "n = 1 or not is_day"), (day_file, "n = 1 or (is_day and n > 1)")):
        con.execute(
            f"""copy (select line from _split where {condition} order by n) to {_quote(str(target))}
            (format csv, header false, quote '', escape '', delimiter {_NO_DELIMITER})"""
        )
    (day_lines,) = con.execute("select count(*) from _split where is_day and n > 1").fetchone()
    return int(day_lines)


def split_last_day(full: Path, out: Path) -> tuple[Path, tuple[Path, ...], str]:
    """History (every file, the daily sources without their last day) and the last day's files, under `out`."""
    day = _last_day(full)
    history = out / "history"
    days = out / "day"
    stamp = out / ".split-done"
    day_files = tuple(days / f"{Path(s.file_name).stem}_{day}{Path(s.file_name).suffix}" for s in DAILY_SOURCES)
    if stamp.exists() and stamp.read_text() == day:
        return history, tuple(p for p in day_files if p.exists()), day
    shutil.rmtree(out, ignore_errors=True)
    history.mkdir(parents=True)
    days.mkdir(parents=True)
    daily_names = {s.file_name for s in DAILY_SOURCES}
    for path in sorted(full.iterdir()):
        if path.is_file() and path.name not in daily_names:
            shutil.copy2(path, history / path.name)
    with duckdb.connect() as con:
        for source, day_file in zip(DAILY_SOURCES, day_files, strict=True):
            path = full / source.file_name
            if path.exists():
                lines = _split_file(con, path, history / source.file_name, day_file, day)
                if lines == 0:  # a header-only file is no delivery
                    day_file.unlink()
                    continue
                log.info("%s: %d lines of %s set apart as %s", source.file_name, lines, day, day_file.name)
    stamp.write_text(day)
    return history, tuple(p for p in day_files if p.exists()), day


def count_data_lines(path: Path) -> int:
    """Data lines of a CSV file (header excluded), counted from its bytes."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (0 if last == b"\n" else 1) - 1


def prepare(size: str, cache: Path, seeds: Path) -> Landing:
    """The landing folder of `size` (generated or the committed sample) and its history / last-day split."""
    full = seeds if size == SAMPLE else ensure_generated(size, cache)
    history, day_files, day = split_last_day(full, cache / size / "split")
    return Landing(size=size, full=full, history=history, day_files=day_files, last_day=day,
                   order_lines=count_data_lines(full / ORDERS.file_name))
