"""Alerts (alerts.yml): rules checked on the warehouse after each build (rules.py), recorded in pipeline.alerts
(state.py) and notified once per rule and subject until resolved (notify.py). Dagster-free: the Dagster asset
pipeline/alerts with one check per rule, the failed-build sensor and `comptoir build` call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from orchestration.alerts.config import load_config
from orchestration.alerts.notify import Delivery, notify
from orchestration.alerts.rules import BUILD_RULE, RULES, Firing
from orchestration.alerts.state import Transition, record


@dataclass(frozen=True)
class AlertCheck:
    firings: dict[str, list[Firing]]  # rule → what fires now (every enabled rule checked, maybe empty)
    transition: Transition
    delivery: Delivery


def check_alerts(con: duckdb.DuckDBPyConnection, now: datetime, config_path: Path | None = None) -> AlertCheck:
    """Check every enabled rule on the warehouse `con` (read-write: pipeline.alerts is written), record, notify
    what is new. A successful build resolves an open failed-build alert."""
    config = load_config(config_path)
    firings = {name: rule(con, config[name], now) for name, rule in RULES.items() if name in config}
    checked = [*firings, BUILD_RULE]
    transition = record(con, [f for found in firings.values() for f in found], checked, now)
    return AlertCheck(firings, transition, notify(transition.opened))


def record_failed_build(con: duckdb.DuckDBPyConnection, run_id: str, job: str, error: str, now: datetime,
                        config_path: Path | None = None) -> Transition | None:
    """A failed build as an alert (subject: the job), notified once until a build succeeds; None when the rule is
    off. Other rules' open alerts are left as they are (nothing was checked)."""
    if BUILD_RULE not in load_config(config_path):
        return None
    firing = Firing(BUILD_RULE, job, None, None, f"The {job} run {run_id} failed: {error}")
    transition = record(con, [firing], [], now)
    notify(transition.opened)
    return transition
