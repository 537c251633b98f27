"""The benchmark's parts: the replay plan, the one-day split, the report's arithmetic, memory sampling, progress."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from dagster import Definitions, MaterializeResult, asset, colored_console_logger, define_asset_job

from orchestration.bench.datasets import count_data_lines, split_last_day
from orchestration.bench.measure import run_measured
from orchestration.bench.replay import replay_plan
from orchestration.bench.report import phases, render, scoring_rows, summarise
from orchestration.bench.scoring import write_input
from orchestration.progress import ProgressPrinter, TerminalProgress, _Step


def _result(unique_id: str, started: str, code: str | None, relation: str | None = None) -> dict:
    return {"unique_id": unique_id, "compiled_code": code, "relation_name": relation,
            "timing": [{"name": "compile", "started_at": "x"}, {"name": "execute", "started_at": started}]}


def test_replay_plan_follows_dbt_order_and_materializations() -> None:
    manifest = {"nodes": {
        "model.p.v": {"config": {"materialized": "view"}, "relation_name": '"db"."s"."v"'},
        "model.p.t": {"config": {"materialized": "table"}},
        "model.p.i": {"config": {"materialized": "incremental"}},
        "test.p.not_null_t_id": {"config": {}},
    }}
    run_results = {"results": [
        _result("test.p.not_null_t_id", "2026-01-01T00:00:04Z", "select * from t where id is null;"),
        _result("model.p.t", "2026-01-01T00:00:02Z", "select 1 as id", '"db"."s"."t"'),
        _result("model.p.v", "2026-01-01T00:00:01Z", "select 2 as id", '"db"."s"."v"'),
        _result("model.p.i", "2026-01-01T00:00:03Z", "select 3 as id", '"db"."s"."i"'),
        _result("unit_test.p.t.case", "2026-01-01T00:00:00Z", "select 1"),
        _result("exposure.p.dash", "2026-01-01T00:00:00Z", None),
    ]}
    plan = replay_plan(manifest, run_results)
    assert [node.unique_id for node in plan] == ["model.p.v", "model.p.t", "model.p.i", "test.p.not_null_t_id"]
    assert plan[0].statement.startswith('create or replace view "db"."s"."v" as (')
    assert plan[1].statement.startswith('create or replace table "db"."s"."t" as (')
    assert plan[2].statement.startswith('create or replace table "db"."s"."i" as (')
    assert plan[3].statement.startswith("select count(*) from (")
    assert ";" not in plan[3].statement


def test_split_last_day_moves_exactly_that_days_lines_byte_for_byte(tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "manifest.json").write_text(json.dumps({"generator": {"end": "2025-12-31"}}))
    header = "order_id,line_number,customer_id,product_id,quantity,unit_price,order_date,status,shipping_address\n"
    lines = [
        'O1,1,C1,P1,1,9.99,2025-12-30T10:00:00,completed,"1 Main St, Paris"\n',
        'O2,1,C1,P1,1,9.99,2025-12-31T10:00:00,completed,"2 Main St, Paris"\n',
        'O3,1,C1,"P1,1,9.99,2025-12-31T11:00:00,completed,broken quote\n',
        "O4,1,,P1,1,9.99,2025-12-31T12:00:00,returned,\n",
        "O5,1,,P1,1,9.99,31/12/2025,completed,\n",
    ]
    (full / "orders.csv").write_text(header + "".join(lines), encoding="utf-8")
    (full / "customers.json").write_text('{"customer_id": "C1"}\n', encoding="utf-8")
    history, day_files, day = split_last_day(full, tmp_path / "split")
    assert day == "2025-12-31"
    assert [p.name for p in day_files] == ["orders_2025-12-31.csv"]  # no sessions or e-mails in this folder
    assert (history / "orders.csv").read_text(encoding="utf-8") == header + lines[0] + lines[4]
    assert day_files[0].read_text(encoding="utf-8") == header + "".join(lines[1:4])
    assert (history / "customers.json").read_bytes() == (full / "customers.json").read_bytes()
    assert count_data_lines(day_files[0]) == 3


def _build(seconds: float, steps: dict[str, float], dbt: dict[str, float]) -> dict:
    return {"seconds": seconds, "peak_rss_mb": 100.0, "startup_seconds": 2.0,
            "steps": {k: {"seconds": v} for k, v in steps.items()}, "dbt": {"seconds_by_kind": dbt}}


def test_report_phases_ratios_and_goals() -> None:
    full = _build(100.0, {"raw__orders": 3.0, "raw__customers": 1.0, "dbt_models": 20.0, "ml__scores": 60.0,
                          "behavioural_segments": 10.0, "published__warehouse": 1.0},
                  {"model": 12.0, "test": 6.0, "unit_test": 1.0})
    incremental = _build(30.0, {"raw__orders": 0.5, "dbt_models": 4.5, "ml__scores": 20.0}, {"model": 2.0})
    result = {"size": "10M", "order_lines": 10, "day_order_lines": 1, "full": [full], "incremental": [incremental],
              "replay": [{"seconds": 10.0, "model_seconds": 8.0, "test_seconds": 2.0, "peak_rss_mb": 50.0}],
              "pandas": [{"seconds": 96.0, "peak_rss_mb": 900.0}]}
    assert phases(full) == {
        "wall": 100.0, "peak_rss_mb": 100.0, "startup": 2.0, "raw": 4.0, "dbt": 20.0, "dbt_models": 12.0,
        "dbt_tests": 6.0, "dbt_unit_tests": 1.0, "ml": 70.0, "publish": 1.0, "landing_to_marts": 26.0,
    }
    summary = summarise(result)
    assert summary["dbt_over_replay"] == pytest.approx(2.0)
    assert summary["pandas_over_build"] == pytest.approx(96.0 / 24.0)
    assert summary["incremental_over_full"] == pytest.approx(5.0 / 24.0)
    text = render([result], repeat=1, seconds=1.0)
    assert "| 10M | raw load ≤ 30 s | met |" in text
    assert "| 10M | dbt ≤ 1.3 x its replayed SQL + 5 s | **not met** |" in text  # 20 > 1.3 x 10 + 5
    assert "| sample | whole build, ML included, ≤ 60 s | not measured in this run |" in text
    assert "| `ml__scores` | 60.0 s |" in text


def test_memory_of_a_child_process_is_measured(tmp_path: Path) -> None:
    hold = "import time; block = bytearray(300 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); " \
           "time.sleep(1)"
    measured = run_measured([sys.executable, "-c", hold], env={}, cwd=tmp_path, log=tmp_path / "log")
    assert measured.returncode == 0
    assert 300 <= measured.peak_rss_mb < 600
    failed = run_measured([sys.executable, "-c", "raise SystemExit(3)"], env={}, cwd=tmp_path, log=tmp_path / "log")
    assert failed.returncode == 3


def test_progress_lines_come_from_the_runs_own_events() -> None:
    lines: list[str] = []

    @asset
    def counted(context) -> MaterializeResult:
        context.log.info("halfway there")
        return MaterializeResult(metadata={"dagster/row_count": 1234})

    job = Definitions(assets=[counted], jobs=[define_asset_job("job")]).resolve_job_def("job")
    printer_stream = type("Stream", (), {"write": lambda self, text: lines.append(text), "flush": lambda self: None})
    progress = TerminalProgress(printer_stream())
    job = job.with_logger_defs({"console": colored_console_logger, "progress": progress.definition()})
    result = job.execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}, "progress": {}}})
    progress.close()
    assert result.success
    text = [line.strip() for line in "".join(lines).splitlines()]
    assert text[0] == "> counted"
    assert "counted: halfway there" in text
    assert text[-1].startswith("< counted done in ") and text[-1].endswith(", 1,234 rows")


def test_heartbeat_names_the_running_step() -> None:
    lines: list[str] = []
    printer = ProgressPrinter(lines.append, heartbeat=0.0)
    printer._steps["dbt_models"] = _Step(started=0.0, nodes=3)
    printer.start()
    try:
        deadline = time.monotonic() + 5
        while not lines and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        printer.stop()
    assert lines and "dbt_models running for" in lines[0] and "3 dbt nodes done" in lines[0]


def test_the_report_has_a_batch_scoring_table_with_medians() -> None:
    scoring = [{"rows": 1_000_000, "format": "csv", "seconds": s, "peak_rss_mb": m, "input_bytes": 150 * 2**20}
               for s, m in ((60.0, 300.0), (80.0, 320.0), (70.0, 310.0))]
    scoring.append({"rows": 100_000, "format": "csv", "seconds": 9.0, "peak_rss_mb": 290.0, "input_bytes": 15 * 2**20})
    lines = scoring_rows(scoring)
    assert "| 100,000 | csv | 15 MiB | 9.0 s | 290 MiB |" in lines
    assert "| 1,000,000 | csv | 150 MiB | 70.0 s | 310 MiB |" in lines
    assert lines.index("| 100,000 | csv | 15 MiB | 9.0 s | 290 MiB |") < lines.index(
        "| 1,000,000 | csv | 150 MiB | 70.0 s | 310 MiB |")


@pytest.mark.parametrize("kind", ["csv", "json", "jsonl"])
def test_generated_scoring_files_hold_the_rows_repeated_under_new_ids(kind: str, tmp_path: Path) -> None:
    import pandas as pd

    from ml.propensity.batch import read_input

    rows = pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "orders_30d": [1, 0, 2],
                         "days_since_last_order": [3.0, None, 12.5], "country_code": ["FR", None, "DE"]})
    frame = read_input(write_input(rows, 8, tmp_path / f"customers.{kind}"))
    assert frame["customer_id"].tolist() == [f"B{n:07d}" for n in range(1, 9)]
    assert [str(v) for v in frame["orders_30d"]] == ["1", "0", "2"] * 2 + ["1", "0"]
    assert not list(tmp_path.glob("*.part"))
