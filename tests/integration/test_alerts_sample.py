"""The alert rules on the built sample, as Dagster runs them (the asset pipeline/alerts with one check per rule): a
local SMTP server and a local webhook receiver get exactly one message per open alert, and nothing more on the next
check. A failed `comptoir build` mailing its alert: tests/e2e/test_cli.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.alerts.rules import RULES
from tests.alert_receivers import smtp_server, webhook_server

pytestmark = pytest.mark.slow


def _materialize_alerts(database: Path) -> object:
    from dagster import DagsterInstance, materialize

    from orchestration.defs.alerts.assets import build_alerts_asset
    from orchestration.defs.resources import WarehouseResource

    with DagsterInstance.ephemeral() as instance:
        return materialize([build_alerts_asset([])], instance=instance,
                           resources={"warehouse": WarehouseResource(seeds_dir=".", database=str(database))})


def test_the_sample_alerts_are_recorded_checked_and_notified_once(
    built_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "comptoir.duckdb"
    shutil.copyfile(built_sample, database)
    with duckdb.connect(str(database)) as con:  # what the session build recorded is set aside: a clean slate
        con.execute("drop table if exists pipeline.alerts")
        out_of_stock = {row[0] for row in con.execute(
            "select product_id from ml.stockout_forecast where stockout_within_lead_time").fetchall()}
    assert out_of_stock  # the sample has products that run out within their lead time
    with smtp_server() as (box, smtp), webhook_server() as (hooks, url):
        for name, value in {**smtp, "COMPTOIR_ALERT_TO": "ops@shop.test", "COMPTOIR_ALERT_WEBHOOK_URL": url}.items():
            monkeypatch.setenv(name, value)
        result = _materialize_alerts(database)
        assert result.success
        with duckdb.connect(str(database), read_only=True) as con:
            open_alerts = set(con.execute(
                "select rule, subject from pipeline.alerts where resolved_at is null").fetchall())
        assert {subject for rule, subject in open_alerts if rule == "stockout"} == out_of_stock
        mailed = {message["Subject"].removeprefix("[Comptoir alert] ") for _, message in box.messages}
        assert len(box.messages) == len(open_alerts) == len(hooks)
        assert mailed == {f"{rule}: {subject}" for rule, subject in open_alerts}
        assert {(hook["rule"], hook["subject"]) for hook in hooks} == open_alerts
        checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
        assert set(checks) == set(RULES)
        assert {name for name, evaluation in checks.items() if not evaluation.passed} == {
            rule for rule, _ in open_alerts}
        # The next check finds the same: nothing is sent again.
        assert _materialize_alerts(database).success
        assert len(box.messages) == len(open_alerts) and len(hooks) == len(open_alerts)
