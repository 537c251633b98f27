"""What every ML asset shares: its group, metrics as metadata, and skipping a model that has too little data.

A young shop (or a tiny test folder) has marts but not enough history to train on. The ML asset then drops
its table, so no older result poses as current, and records why; its checks warn that the table is absent.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetExecutionContext, AssetKey, MaterializeResult

from ml.warehouse import ML_SCHEMA, drop_table, finite_or_none, table_exists
from orchestration.defs.resources import WarehouseResource

ML_GROUP = "ml"
# DuckDB's memory in an ML step (DECISIONS.md, "ML at scale"): past it, joins and sorts spill to the temporary
# folder beside the warehouse instead of growing the build's memory with the data (at ten million order lines
# the anomaly features alone took 3.7 GB without it, 2.2 GB with it, and ran no slower).
DUCKDB_MEMORY_LIMIT = "2GB"


@contextmanager
def connect(warehouse: WarehouseResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse connection of an ML step, with DUCKDB_MEMORY_LIMIT set on it."""
    with warehouse.connect() as con:
        con.execute(f"set memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        yield con


def metric_metadata(metrics: dict[str, object], prefix: str = "") -> dict[str, float]:
    """Metrics as asset metadata; NaN and infinities (an undefined metric) are left out, not shown as numbers."""
    numbers = {f"{prefix}{name}": finite_or_none(value) for name, value in metrics.items()}
    return {name: number for name, number in numbers.items() if number is not None}


def skipped(
    context: AssetExecutionContext,
    con: duckdb.DuckDBPyConnection,
    tables: list[str],
    reason: Exception,
    asset_key: AssetKey | None = None,
) -> MaterializeResult:
    """Drop ``tables`` on the asset's open connection and record why the model did not run."""
    for table in tables:
        drop_table(con, table)
    names = ", ".join(f"{ML_SCHEMA}.{t}" for t in tables) or "the model"
    context.log.warning(f"skipped {names}: {reason}")
    return MaterializeResult(
        asset_key=asset_key, metadata={"summary": f"skipped, not enough data: {reason}", "skipped": True}
    )


def absent_table(warehouse: WarehouseResource, table: str) -> AssetCheckResult | None:
    """A warning result when ``ml.<table>`` was not built (its model was skipped), else None."""
    with connect(warehouse) as con:
        if table_exists(con, table):
            return None
    return AssetCheckResult(
        passed=False,
        severity=AssetCheckSeverity.WARN,
        metadata={"reason": f"{ML_SCHEMA}.{table} was not built: not enough data for its model"},
    )


@contextmanager
def timed(context: AssetExecutionContext, name: str) -> Iterator[Callable[[int], None]]:
    """Log when an ML step starts and ends, with its rows and elapsed time, in Dagster's run log.

    Yields a function to record the step's row count: ``with timed(context, "ml.x") as done: ...; done(rows)``.
    A skipped step logs its end without rows; a failing one says it stopped.
    """
    started = time.perf_counter()
    rows: list[int] = []
    context.log.info(f"{name}: started")
    try:
        yield rows.append
    except BaseException:
        context.log.info(f"{name}: stopped by an error after {time.perf_counter() - started:.1f} s")
        raise
    counted = f"{rows[-1]:,} rows in " if rows else ""
    context.log.info(f"{name}: done, {counted}{time.perf_counter() - started:.1f} s")
