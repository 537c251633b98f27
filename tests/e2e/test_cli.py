"""The `comptoir` console script as a user runs it."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.contract import SOURCES
from tests.alert_receivers import smtp_server
from tests.conftest import BUILD_OUTPUT

COMPTOIR = [sys.executable, "-m", "orchestration.cli"]


def run(args: list[str], home: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COMPTOIR_HOME": str(home)}
    environment.pop("COMPTOIR_SEEDS_DIR", None)  # the caller's own, not one a test passes in `env`
    environment.update(env)
    return subprocess.run([*COMPTOIR, *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("verb", [[], ["generate"], ["build"], ["dbt"], ["bench"], ["serve"], ["score"], ["export"],
                                  ["report"], ["superset"], ["superset", "follow"], ["api"], ["api", "keys"],
                                  ["api", "keys", "create"]])
def test_every_verb_has_help(verb: list[str], tmp_path: Path) -> None:
    completed = run([*verb, "--help"], tmp_path, tmp_path)
    assert completed.returncode == 0
    assert "usage: comptoir" in completed.stdout


def test_console_script_is_installed() -> None:
    script = shutil.which("comptoir", path=str(Path(sys.executable).parent))
    assert script is not None, "comptoir is not installed in the environment running the tests"


def test_generate_with_only_out_writes_the_committed_sample(tmp_path: Path, sample_dir: Path) -> None:
    out = tmp_path / "out"
    completed = run(["generate", "--out", str(out)], tmp_path / "home", tmp_path)
    assert completed.returncode == 0, completed.stderr
    committed = sorted(p.name for p in sample_dir.iterdir() if p.name != "README.md")
    assert sorted(p.name for p in out.iterdir()) == committed
    _, mismatch, errors = filecmp.cmpfiles(sample_dir, out, committed, shallow=False)
    assert (mismatch, errors) == ([], []), "the committed sample differs from `comptoir generate`'s default"


@pytest.mark.slow
def test_build_prints_a_summary_of_every_step(built_sample: Path) -> None:
    output = (built_sample.parent / BUILD_OUTPUT).read_text(encoding="utf-8")  # the session's `comptoir build`
    assert f"Warehouse: {built_sample}" in output
    with duckdb.connect(str(built_sample), read_only=True) as con:
        for source in SOURCES:
            loaded = con.execute(f"select count(*) from raw.{source.name}").fetchone()[0]
            rejected = con.execute(
                "select count(*) from raw.load_rejects where source = ?", [source.name]
            ).fetchone()[0]
            summary_line = next(line for line in output.splitlines() if line.startswith(source.name))
            assert summary_line.split()[1:3] == [f"{loaded:,}", f"{rejected:,}"]
        quarantined = con.execute("select count(*) from staging.dq_quarantine").fetchone()[0]
    # Then dbt: models built and tests, and the rows data-quality rules set aside.
    dbt_line = next(line for line in output.splitlines() if line.startswith("dbt build: "))
    assert " models built, " in dbt_line and ", 0 failed, " in dbt_line, dbt_line
    assert f"Rows quarantined: {quarantined:,} (staging.dq_quarantine)" in output
    assert "Models (schema ml):" in output and "Published: " in output and "Built in " in output


@pytest.mark.slow
def test_build_reads_the_landing_folder_from_the_environment_and_fully_refreshes(tmp_path: Path, make_seeds) -> None:
    """One whole build for two things: the landing folder comes from COMPTOIR_SEEDS_DIR, and --full-refresh reaches
    dbt (incremental runs, the default, are tested in test_incremental.py)."""
    import json

    folder = make_seeds()
    home = tmp_path / "home"
    completed = run(["build", "--full-refresh"], home, tmp_path, COMPTOIR_SEEDS_DIR=str(folder))
    assert completed.returncode == 0, completed.stderr
    with duckdb.connect(str(home / "comptoir.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from raw.orders").fetchone()[0] == 3
        ml_tables = con.execute("select table_name from information_schema.tables where table_schema = 'ml'").fetchall()
    # Three order lines are too little history to train on: the models are skipped, not the build.
    assert "ml.model_runs" in completed.stdout and "skipped, not enough data" in completed.stdout
    assert ("customer_scores",) not in ml_tables
    newest = max((home / "dbt" / "runs").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    arguments = json.loads((newest / "run_results.json").read_text())["args"]
    assert arguments["full_refresh"] is True and arguments["vars"] == {"scope_tests_to_refreshed_rows": True}


def test_build_with_a_missing_required_file_fails_naming_it_and_mails_the_alert(tmp_path: Path, make_seeds) -> None:
    """The failed build is also an alert (alerts.yml rule failed_build), mailed by `comptoir build` itself."""
    folder = make_seeds({"customers.json": None})
    with smtp_server() as (box, smtp):
        completed = run(["build", "--seeds", str(folder)], tmp_path / "home", tmp_path,
                        COMPTOIR_ALERT_TO="ops@shop.test", **smtp)
    assert completed.returncode == 1
    assert "customers.json: required source file is missing" in completed.stderr
    ((recipients, message),) = box.messages
    assert recipients == ["ops@shop.test"] and message["Subject"] == "[Comptoir alert] failed_build: warehouse"
    assert "customers.json: required source file is missing" in message.get_payload(decode=True).decode()


