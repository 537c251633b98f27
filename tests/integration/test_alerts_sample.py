"""The alert rules on built warehouses: the built sample as Dagster runs them (the asset pipeline/alerts with one
check per rule), and a landing folder made to trip the week-on-week and quarantine rules. A local SMTP server and a
local webhook receiver get exactly one message per open alert, and nothing more on the next check. A failed
`comptoir build` mailing its alert: tests/e2e/test_cli.py; each rule on hand-made rows: tests/unit/test_alerts.py."""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
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
            rule for rule, _ in open_alerts} == {"stockout"}  # healthy for every other rule
        # The next check finds the same: nothing is sent again.
        assert _materialize_alerts(database).success
        assert len(box.messages) == len(open_alerts) and len(hooks) == len(open_alerts)


def _craft_landing(sample: Path, folder: Path, week: tuple[str, ...]) -> None:
    """The committed sample with its last complete week made worse: prices cut to a third (the AOV falls), no
    session converted (the conversion rate falls), and one e-mail event line in ten unreadable (quarantine)."""
    shutil.copytree(sample, folder)
    with (sample / "orders.csv").open(newline="", encoding="utf-8") as source:
        rows = list(csv.reader(source))
    header, lines = rows[0], rows[1:]
    price, day = header.index("unit_price"), header.index("order_date")
    for line in lines:
        if line[day][:10] in week:
            line[price] = f"{Decimal(line[price]) / 3:.2f}"
    with (folder / "orders.csv").open("w", newline="", encoding="utf-8") as target:
        csv.writer(target, lineterminator="\n").writerows([header, *lines])
    with (sample / "web_sessions.csv").open(newline="", encoding="utf-8") as source:
        sessions = list(csv.reader(source))
    started, order = sessions[0].index("started_at"), sessions[0].index("order_id")
    for session in sessions[1:]:
        if session[started][:10] in week:
            session[order] = ""
    with (folder / "web_sessions.csv").open("w", newline="", encoding="utf-8") as target:
        csv.writer(target, lineterminator="\n").writerows(sessions)
    events = (sample / "email_events.csv").read_text(encoding="utf-8").splitlines()
    garbled = [f"{line},unexpected" if i % 10 == 0 else line for i, line in enumerate(events[1:], start=1)]
    (folder / "email_events.csv").write_text("\n".join([events[0], *garbled]) + "\n", encoding="utf-8")


def test_a_landing_folder_made_to_trip_the_rules_is_notified_exactly(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raw load + dbt build of the crafted folder (no ML: the forecast and stock-out rules have their own tests),
    then the check: exactly the three alerts it was made for, by mail and webhook. The sample itself, built by the
    session, trips none of them (the test above: only its stock-outs fire)."""
    from datetime import UTC, datetime, timedelta

    from orchestration.alerts import check_alerts
    from tests.integration.dbt_builds import load_and_build

    week = tuple(f"2025-12-{day}" for day in range(22, 29))  # the sample's last complete ISO week (2025-W52)
    folder = tmp_path / "landing"
    _craft_landing(sample_dir, folder, week)
    database = tmp_path / "comptoir.duckdb"
    load_and_build(folder, database, tmp_path / "target")
    with smtp_server() as (box, smtp), webhook_server() as (hooks, url):
        for name, value in {**smtp, "COMPTOIR_ALERT_TO": "ops@shop.test", "COMPTOIR_ALERT_WEBHOOK_URL": url}.items():
            monkeypatch.setenv(name, value)
        with duckdb.connect(str(database)) as con:
            now = datetime.now(UTC).replace(tzinfo=None)
            check_alerts(con, now)
            expected = {("aov_drop", "week of 2025-12-22"), ("conversion_drop", "week of 2025-12-22"),
                        ("quarantine_rate", "email_events")}
            assert {(hook["rule"], hook["subject"]) for hook in hooks} == expected and len(hooks) == 3
            assert sorted(message["Subject"] for _, message in box.messages) == sorted(
                f"[Comptoir alert] {rule}: {subject}" for rule, subject in expected)
            check_alerts(con, now + timedelta(hours=1))  # the next build: still open, not sent again
            assert len(box.messages) == 3 and len(hooks) == 3
