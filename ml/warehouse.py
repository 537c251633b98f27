"""Reading the warehouse's as-of date and writing result tables into schema ``ml``.

Every ML result is a plain table in the warehouse (schema ``ml``) so dashboards and dbt read it like
any other relation. Writes replace a whole table (or, for the run log, the rows of one key) in one
transaction, so a reader never sees half a result and a rerun never duplicates rows.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import duckdb
import pandas as pd

logger = logging.getLogger(__name__)


class InsufficientDataError(ValueError):
    """The warehouse holds too little history for this model (a young shop, a tiny test folder).

    The Dagster assets catch it and skip the model with a warning instead of failing the whole build.
    """

ML_SCHEMA = "ml"
# dbt's feature models (dbt_project/models/features/): the only warehouse tables ml/ reads.
FEATURES_SCHEMA = "features"
SAFE_SLUG = re.compile(r"^[a-z0-9_]+$")
# One feature column per category: `share_<category_slug>` (the slug from dbt's feat_category_slugs).
SHARE_PREFIX = "share_"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_SQL_TYPE = re.compile(r"^[a-z]+(\(\d+(,\d+)?\))?$")


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain lower-case identifier: {name!r}")
    return name


def features(con: duckdb.DuckDBPyConnection, name: str) -> duckdb.DuckDBPyRelation:
    """The dbt feature model ``features.<name>`` as a DuckDB relation.

    The ML code reads its inputs through this and nothing else: the SQL lives in dbt (lineage, docs, tests), and
    callers project, filter and fetch (pandas, Arrow, batches) with the relation API.
    """
    return con.table(f"{FEATURES_SCHEMA}.{_identifier(name)}")


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> object:
    """The first value of the first row of ``sql`` (None when no row), with the result fully consumed.

    ``fetchone()`` leaves the result open, and DuckDB then refuses ``register`` on the connection.
    """
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0][0] if rows else None


def read_as_of_date(con: duckdb.DuckDBPyConnection) -> date:
    """The date the ML models are fitted and scored at: the feature model ``feat_as_of_date``, the marts' own as-of
    date (dbt var ``as_of_date``, else the last day with a clean order line), so ML results and marts agree."""
    rows = features(con, "feat_as_of_date").aggregate("max(as_of_date)").fetchall()
    value = rows[0][0] if rows else None
    if value is None:
        raise ValueError(f"{FEATURES_SCHEMA}.feat_as_of_date has no as_of_date: build the dbt models first")
    return value  # type: ignore[no-any-return]


def _select(casts: dict[str, str] | None) -> str:
    """``select *`` with some columns cast: pandas has no date or decimal dtype, the warehouse does."""
    if not casts:
        return "select * from _ml_frame"
    for column, sql_type in casts.items():
        _identifier(column)
        if not _SQL_TYPE.match(sql_type):
            raise ValueError(f"not a plain SQL type: {sql_type!r}")
    replaced = ", ".join(f"cast({column} as {sql_type}) as {column}" for column, sql_type in casts.items())
    return f"select * replace ({replaced}) from _ml_frame"


def finite_or_none(value: object) -> float | None:
    """A metric as a plain float, or None when it is undefined (NaN, infinite, missing): JSON has no NaN."""
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def finite_metrics(metrics: dict[str, float]) -> dict[str, float | None]:
    return {name: finite_or_none(value) for name, value in metrics.items()}


def drop_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Remove ``ml.<table>``: a model that cannot run must not leave an older result looking current."""
    con.execute(f"drop table if exists {ML_SCHEMA}.{_identifier(table)}")


def table_exists(con: duckdb.DuckDBPyConnection, table: str, schema: str = ML_SCHEMA) -> bool:
    # fetchall, not fetchone: a result left open makes the next relation-API read on the connection fail
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, _identifier(table)],
    ).fetchall()
    return bool(rows and rows[0][0])


@contextmanager
def _frame_transaction(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> Iterator[None]:
    """``frame`` visible as ``_ml_frame`` inside one transaction on schema ``ml``; rolled back on any error."""
    con.register("_ml_frame", frame)
    try:
        con.execute("begin transaction")
        con.execute(f"create schema if not exists {ML_SCHEMA}")
        yield
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_ml_frame")


def replace_table(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, casts: dict[str, str] | None = None
) -> int:
    """Replace ``ml.<table>`` with ``frame`` atomically (``casts``: column -> SQL type); returns the row count."""
    name = f"{ML_SCHEMA}.{_identifier(table)}"
    with _frame_transaction(con, frame):
        con.execute(f"create or replace table {name} as {_select(casts)}")
    logger.info("wrote %d rows to %s", len(frame), name)
    return len(frame)


def replace_table_from_query(
    con: duckdb.DuckDBPyConnection,
    table: str,
    query: str,
    casts: dict[str, str] | None = None,
    params: dict[str, object] | None = None,
) -> int:
    """Replace ``ml.<table>`` with the rows of ``query`` (SQL over the connection's tables) atomically.

    For results built inside DuckDB (temporary tables, chunks appended as they were scored): nothing passes
    through pandas. ``casts`` as for :func:`replace_table`; ``params``: the query's $-parameters. Returns the
    row count.
    """
    name = f"{ML_SCHEMA}.{_identifier(table)}"
    select = _select(casts).replace("_ml_frame", f"({query})", 1)
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {ML_SCHEMA}")
        if params is None:
            con.execute(f"create or replace table {name} as {select}")
        else:
            con.execute(f"create or replace table {name} as {select}", params)
        rows = int(scalar(con, f"select count(*) from {name}") or 0)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    logger.info("wrote %d rows to %s", rows, name)
    return rows


def upsert_rows(
    con: duckdb.DuckDBPyConnection, table: str, key: str, frame: pd.DataFrame, casts: dict[str, str] | None = None
) -> int:
    """Append ``frame`` to ``ml.<table>``, first deleting rows whose ``key`` it carries (a rerun replaces).

    The table is created from the frame's columns the first time; a column a later frame brings (a newer
    version of the code) is added, null in the earlier rows, so the run log keeps its history.
    """
    name = f"{ML_SCHEMA}.{_identifier(table)}"
    key_column = _identifier(key)
    with _frame_transaction(con, frame):
        con.execute(f"create table if not exists {name} as {_select(casts)} limit 0")
        existing = {row[0] for row in con.execute(f"select column_name from (describe {name})").fetchall()}
        for column, column_type in con.execute(f"select column_name, column_type from (describe {_select(casts)})"
                                               ).fetchall():
            if column not in existing:
                con.execute(f"alter table {name} add column {_identifier(column)} {column_type}")
        con.execute(f"delete from {name} where {key_column} in (select {key_column} from _ml_frame)")
        con.execute(f"insert into {name} by name {_select(casts)}")
    logger.info("upserted %d rows into %s by %s", len(frame), name, key_column)
    return len(frame)
