"""The alert rules (orchestration/alerts/) on small hand-made warehouses: each rule fires on the rows made to trip
it and stays quiet on healthy ones; pipeline.alerts opens, keeps and resolves; a local SMTP server and a local
webhook receiver get exactly one message per new alert (rule and subject), none while it stays open."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from orchestration.alerts import check_alerts, record_failed_build
from orchestration.alerts.config import DEFAULT_ALERTS_FILE, AlertConfigError, load_config
from orchestration.alerts.rules import RULE_NAMES, RULES
from orchestration.settings import REPO_ROOT
from tests.alert_receivers import smtp_server, webhook_server

NOW = datetime(2026, 1, 5, 9, 0)
AS_OF = "2026-01-04"  # a Sunday: the week of 2025-12-29 is the last complete one


def healthy() -> duckdb.DuckDBPyConnection:
    """A warehouse where no rule fires: revenue inside the band, steady weeks, clean sources, stock enough,
    landing files loaded an hour ago."""
    con = duckdb.connect(":memory:")
    for schema in ("marts", "ml", "raw"):
        con.execute(f"create schema {schema}")
    con.execute(f"create table marts.mart_kpis as select date '{AS_OF}' as as_of_date")
    con.execute(f"""
        create table ml.forecast_daily_sales as
        select 'revenue:total' as series, date '{AS_OF}' as date_day, 1000.0 as actual, 900.0 as yhat_lower,
            1100.0 as yhat
    """)
    con.execute("""
        create table marts.mart_kpis_weekly as
        select * from (values
            (date '2025-12-22', true, 0.050::decimal(9,4), 100.00::decimal(38,2)),
            (date '2025-12-29', true, 0.045::decimal(9,4), 90.00::decimal(38,2)),
            (date '2026-01-05', false, 0.001::decimal(9,4), 1.00::decimal(38,2))  -- week-to-date: not compared
        ) as t(week_start, is_complete, conversion_rate, average_order_value)
    """)
    con.execute("""
        create table marts.mart_data_quality as
        select * from (values ('orders', 'loaded', 1000), ('orders', 'quarantined', 30),
                              ('orders', 'rejected_at_load', 10), ('customers', 'loaded', 100),
                              ('customers', 'removed_duplicate', 50))
            as t(source, check_name, row_count)
    """)
    con.execute("""
        create table ml.stockout_forecast as
        select 'P1' as product_id, 'Lamp' as product_name, 40 as current_stock, 20.0 as days_until_stockout,
            14 as lead_time_days, date '2026-01-24' as stockout_date, false as stockout_within_lead_time
    """)
    loaded = NOW - timedelta(hours=1)
    con.execute(f"create table raw.orders as select timestamp '{loaded}' as _loaded_at")
    con.execute(f"create table raw.customers as select timestamp '{loaded}' as _loaded_at")
    return con


# What each rule needs to fire, and the subject it fires for.
TRIPS = {
    "revenue_below_forecast": ("update ml.forecast_daily_sales set actual = 850", AS_OF),
    "conversion_drop": ("update marts.mart_kpis_weekly set conversion_rate = 0.030 where week_start = '2025-12-29'",
                        "week of 2025-12-29"),
    "aov_drop": ("update marts.mart_kpis_weekly set average_order_value = 70 where week_start = '2025-12-29'",
                 "week of 2025-12-29"),
    "quarantine_rate": ("insert into marts.mart_data_quality values ('orders', 'quarantined', 20)", "orders"),
    "stockout": ("update ml.stockout_forecast set days_until_stockout = 5, stockout_within_lead_time = true", "P1"),
    "stale_source": (f"update raw.customers set _loaded_at = timestamp '{NOW - timedelta(hours=49)}'", "customers"),
}


def test_the_default_file_lists_every_rule_commented_and_on() -> None:
    text = DEFAULT_ALERTS_FILE.read_text(encoding="utf-8")
    assert set(yaml.safe_load(text)) == set(RULE_NAMES) and set(load_config()) == set(RULE_NAMES)
    assert all(re.search(rf"^{name}:\n(  #.*\n|  \w+: .*\n)*  # ", text, re.MULTILINE) for name in RULE_NAMES)


def test_a_healthy_warehouse_fires_nothing() -> None:
    con = healthy()
    assert {name: rule(con, {}, NOW) for name, rule in RULES.items()} == {name: [] for name in RULES}


@pytest.mark.parametrize("name", list(TRIPS))
def test_each_rule_fires_on_what_trips_it_and_only_it(name: str) -> None:
    con = healthy()
    sql, subject = TRIPS[name]
    con.execute(sql)
    fired = {rule_name: rule(con, {}, NOW) for rule_name, rule in RULES.items()}
    assert [f.subject for f in fired.pop(name)] == [subject]
    assert fired == {rule_name: [] for rule_name in fired}


def test_thresholds_come_from_the_file(tmp_path: Path) -> None:
    con = healthy()
    con.execute(TRIPS["aov_drop"][0])  # 30 % down
    path = tmp_path / "alerts.yml"
    path.write_text("aov_drop:\n  max_drop_pct: 35\nstockout:\n  enabled: false\n", encoding="utf-8")
    config = load_config(path)
    assert "stockout" not in config and RULES["aov_drop"](con, config["aov_drop"], NOW) == []
    path.write_text("aov_drop:\n  max_drop_pct: 20\n", encoding="utf-8")
    (firing,) = RULES["aov_drop"](con, load_config(path)["aov_drop"], NOW)
    assert (firing.value, firing.threshold) == (30.0, 20.0) and "fell 30.0 % week on week" in firing.message


@pytest.mark.parametrize(("text", "message"), [
    ("stock_out:\n  enabled: true\n", "unknown rule(s) stock_out"),
    ("aov_drop:\n  max_drop_pct: lots\n", "aov_drop.max_drop_pct must be a number"),
    ("- aov_drop\n", "expected a mapping"),
    ("aov_drop: [\n", "not valid YAML"),
])
def test_a_wrong_alerts_file_is_named_with_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "alerts.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AlertConfigError, match=re.escape(message)):
        load_config(path)
    with pytest.raises(AlertConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")


def test_each_new_alert_is_notified_once_by_mail_and_webhook_until_it_resolves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    con = healthy()
    with smtp_server() as (box, smtp), webhook_server() as (hooks, url):
        for name, value in {**smtp, "COMPTOIR_ALERT_TO": "ops@shop.test", "COMPTOIR_ALERT_WEBHOOK_URL": url}.items():
            monkeypatch.setenv(name, value)
        assert check_alerts(con, NOW).transition.opened == [] and box.messages == [] and hooks == []
        con.execute(TRIPS["stockout"][0])
        con.execute(TRIPS["quarantine_rate"][0])
        first = check_alerts(con, NOW)
        assert sorted((f.rule, f.subject) for f in first.transition.opened) == [("quarantine_rate", "orders"),
                                                                               ("stockout", "P1")]
        assert sorted(m["Subject"] for _, m in box.messages) == ["[Comptoir alert] quarantine_rate: orders",
                                                                  "[Comptoir alert] stockout: P1"]
        assert all(recipients == ["ops@shop.test"] for recipients, _ in box.messages)
        assert sorted((h["rule"], h["subject"]) for h in hooks) == [("quarantine_rate", "orders"), ("stockout", "P1")]
        assert all(h["text"].startswith("[Comptoir alert] ") for h in hooks)
        # The next build: still firing, nothing new is sent.
        second = check_alerts(con, NOW + timedelta(hours=1))
        assert len(second.transition.still_open) == 2 and second.transition.opened == []
        assert len(box.messages) == 2 and len(hooks) == 2
        # The stock arrives: the stock-out resolves; it would be notified again only if it fired anew.
        con.execute("update ml.stockout_forecast set stockout_within_lead_time = false")
        third = check_alerts(con, NOW + timedelta(hours=2))
        assert third.transition.resolved == [("stockout", "P1")] and len(box.messages) == 2
    rows = con.execute("select rule, subject, first_seen, last_seen, resolved_at from pipeline.alerts "
                       "order by rule").fetchall()
    assert rows == [("quarantine_rate", "orders", NOW, NOW + timedelta(hours=2), None),
                    ("stockout", "P1", NOW, NOW + timedelta(hours=1), NOW + timedelta(hours=2))]


def test_a_failed_build_is_notified_once_and_resolved_by_the_next_build(monkeypatch: pytest.MonkeyPatch) -> None:
    con = healthy()
    with smtp_server() as (box, smtp):
        for name, value in {**smtp, "COMPTOIR_ALERT_TO": "ops@shop.test"}.items():
            monkeypatch.setenv(name, value)
        record_failed_build(con, "run-1", "warehouse", "raw__orders: orders.csv: required source file is missing",
                            NOW)
        record_failed_build(con, "run-2", "warehouse", "the same again", NOW + timedelta(hours=1))
        ((_, message),) = box.messages
        assert message["Subject"] == "[Comptoir alert] failed_build: warehouse"
        assert "orders.csv: required source file is missing" in message.get_payload(decode=True).decode()
        assert check_alerts(con, NOW + timedelta(hours=2)).transition.resolved == [("failed_build", "warehouse")]


def test_no_mail_setting_means_no_mail_and_the_alert_is_still_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMPTOIR_SMTP_HOST", "COMPTOIR_ALERT_TO", "COMPTOIR_ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    con = healthy()
    con.execute(TRIPS["stockout"][0])
    checked = check_alerts(con, NOW)
    assert (checked.delivery.emails, checked.delivery.webhooks, checked.delivery.errors) == (0, 0, [])
    assert con.execute("select count(*) from pipeline.alerts where resolved_at is null").fetchone()[0] == 1


def test_the_dashboard_dataset_lists_every_rule() -> None:
    dataset = yaml.safe_load((REPO_ROOT / "superset" / "assets" / "datasets" / "comptoir" / "alert_rules.yaml")
                             .read_text(encoding="utf-8"))
    assert re.findall(r"\('(\w+)'\)", dataset["sql"]) == list(RULE_NAMES)
