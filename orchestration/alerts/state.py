"""pipeline.alerts: every firing with its first and last sighting and when it resolved, kept in the warehouse (and
so in the published copy the Data-quality dashboard reads). One open row per rule and subject: a rule that keeps
firing updates its row and is notified once; when it stops firing the row is resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from orchestration.alerts.rules import Firing

ALERTS_TABLE = "pipeline.alerts"


@dataclass(frozen=True)
class Transition:
    opened: list[Firing]  # new since the last check: these are notified
    still_open: list[Firing]
    resolved: list[tuple[str, str]]  # (rule, subject) that stopped firing


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists pipeline")
    con.execute(f"""
        create table if not exists {ALERTS_TABLE} (
            rule varchar not null,
            subject varchar not null,
            value double,
            threshold double,
            message varchar not null,
            first_seen timestamp not null,
            last_seen timestamp not null,
            resolved_at timestamp
        )
    """)


def record(con: duckdb.DuckDBPyConnection, firings: list[Firing], checked_rules: list[str], now: datetime
           ) -> Transition:
    """Merge this check's firings into pipeline.alerts; the open rows of `checked_rules` that did not fire again
    are resolved. One transaction: a failed check changes nothing."""
    ensure_table(con)
    con.execute("begin transaction")
    try:
        open_rows = {(rule, subject) for rule, subject in con.execute(
            f"select rule, subject from {ALERTS_TABLE} where resolved_at is null").fetchall()}
        opened, still_open = [], []
        for firing in firings:
            key = (firing.rule, firing.subject)
            if key in open_rows:
                still_open.append(firing)
                con.execute(f"""
                    update {ALERTS_TABLE} set value = ?, threshold = ?, message = ?, last_seen = ?
                    where rule = ? and subject = ? and resolved_at is null
                """, [firing.value, firing.threshold, firing.message, now, *key])
            else:
                opened.append(firing)
                con.execute(f"insert into {ALERTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, null)",
                            [*key, firing.value, firing.threshold, firing.message, now, now])
        firing_keys = {(firing.rule, firing.subject) for firing in firings}
        resolved = sorted(key for key in open_rows if key[0] in checked_rules and key not in firing_keys)
        for rule, subject in resolved:
            con.execute(f"update {ALERTS_TABLE} set resolved_at = ? where rule = ? and subject = ? "
                        "and resolved_at is null", [now, rule, subject])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Transition(opened, still_open, resolved)
