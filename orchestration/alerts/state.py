"""pipeline.alerts: every firing with its first and last sighting and when it resolved, kept in the warehouse (and
so in the published copy the Data-quality dashboard reads). One open row per rule and subject: a rule that keeps
firing updates its row and is notified once; when it stops firing the row is resolved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

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
    """Merge this check's firings into pipeline.alerts, set-based (a shop may have thousands of products out of
    stock): open rows that fire again are updated, new ones inserted, and the open rows of `checked_rules` that did
    not fire again are resolved. One transaction: a failed check changes nothing."""
    ensure_table(con)
    current = pa.table({
        "rule": pa.array([f.rule for f in firings], pa.string()),
        "subject": pa.array([f.subject for f in firings], pa.string()),
        "value": pa.array([f.value for f in firings], pa.float64()),
        "threshold": pa.array([f.threshold for f in firings], pa.float64()),
        "message": pa.array([f.message for f in firings], pa.string()),
    })
    con.register("current_firings", current)
    con.execute("begin transaction")
    try:
        open_keys = {tuple(row) for row in con.execute(f"""
            select rule, subject from {ALERTS_TABLE} where resolved_at is null""").fetchall()}
        con.execute(f"""
            update {ALERTS_TABLE} as alerts
            set value = f.value, threshold = f.threshold, message = f.message, last_seen = ?
            from current_firings as f
            where alerts.rule = f.rule and alerts.subject = f.subject and alerts.resolved_at is null
        """, [now])
        con.execute(f"""
            insert into {ALERTS_TABLE}
            select f.rule, f.subject, f.value, f.threshold, f.message, ?, ?, null
            from current_firings as f
            anti join (select rule, subject from {ALERTS_TABLE} where resolved_at is null) as open_alerts
                on open_alerts.rule = f.rule and open_alerts.subject = f.subject
        """, [now, now])
        resolved = [tuple(row) for row in con.execute(f"""
            update {ALERTS_TABLE} as alerts set resolved_at = ?
            where alerts.resolved_at is null and alerts.last_seen < ? and list_contains(?, alerts.rule)
            returning rule, subject
        """, [now, now, checked_rules]).fetchall()]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("current_firings")
    opened = [f for f in firings if (f.rule, f.subject) not in open_keys]
    still_open = [f for f in firings if (f.rule, f.subject) in open_keys]
    return Transition(opened, still_open, sorted(resolved))
