"""`comptoir score` as a user runs it: a model trained on the built sample and saved under a private
COMPTOIR_HOME, the sample's latest feature rows exported to CSV / JSON, scored by the real CLI subprocess."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.propensity.features import build_features, read_cutoff_plan
from ml.propensity.model import TrainingResult, score_customers, train_and_evaluate
from ml.propensity.registry import save_model

pytestmark = pytest.mark.slow

COMPTOIR = [sys.executable, "-m", "orchestration.cli"]


@dataclass(frozen=True)
class Scenario:
    home: Path
    result: TrainingResult
    version: str
    features: pd.DataFrame  # build_features at the scoring cutoff (the day after the as-of date)


def run(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COMPTOIR_HOME": str(home)}
    environment.pop("COMPTOIR_SEEDS_DIR", None)
    return subprocess.run([*COMPTOIR, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def export(frame: pd.DataFrame, path: Path) -> Path:
    """The way another system would hand customers over: pandas CSV, or JSON with exact floats."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        path.write_text(json.dumps(_records(frame), default=str))
    return path


def read_scores(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        out = pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=False)
        out["reasons"] = out[["reason_1", "reason_2", "reason_3"]].to_numpy().tolist()
        return out
    return pd.DataFrame(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def scenario(built_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    home = tmp_path_factory.mktemp("score-home")
    with duckdb.connect(str(built_sample), read_only=True) as con:
        result = train_and_evaluate(con)
        features = build_features(con, [read_cutoff_plan(con).scoring_cutoff])
    saved = save_model(result, home / "models", trained_at=datetime.now(UTC))
    return Scenario(home=home, result=result, version=saved.version, features=features)


def assert_same_scores(out: pd.DataFrame, expected: pd.DataFrame, version: str) -> None:
    assert out["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_array_equal(out["score"].to_numpy(dtype=float), expected["score"].to_numpy(dtype=float))
    assert out["segment"].tolist() == expected["segment"].tolist()
    assert out["action"].tolist() == expected["action"].tolist()
    assert out["reasons"].tolist() == expected["reasons"].tolist()
    assert set(out["model_version"]) == {version}
    assert out["scored_at"].nunique() == 1


def test_score_is_a_listed_verb_with_help(tmp_path: Path) -> None:
    top = run(["--help"], tmp_path, tmp_path)
    assert top.returncode == 0 and "score" in top.stdout
    verb = run(["score", "--help"], tmp_path, tmp_path)
    assert verb.returncode == 0
    assert "usage: comptoir score" in verb.stdout and "--skip-invalid" in verb.stdout


@pytest.mark.parametrize(("source", "target"), [("csv", "csv"), ("json", "json")])
def test_a_good_file_is_scored_exactly_like_the_pipeline(
    source: str, target: str, scenario: Scenario, tmp_path: Path
) -> None:
    features = scenario.features
    assert not (features["emails_opened_90d"] > features["emails_sent_90d"]).any(), "the sample's rows are valid"
    path = export(features, tmp_path / f"customers.{source}")
    output = tmp_path / f"scores.{target}"
    completed = run(["score", "--input", str(path), "--output", str(output)], scenario.home, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert f"Scored {len(features):,} of {len(features):,} customers with {scenario.version}" in completed.stdout
    assert f"scoring customers.{source}: done, {len(features):,} rows in" in completed.stderr  # progress, on stderr
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # scores name customers: owner only
    out = read_scores(output)
    assert len(out) == len(features)
    assert_same_scores(out, score_customers(scenario.result, features), scenario.version)


def _planted(features: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    frame = features.astype(object)
    positions = [len(frame) // 7, len(frame) // 2, len(frame) - 1]
    frame.loc[frame.index[positions[0]], "orders_30d"] = -1
    frame.loc[frame.index[positions[1]], "emails_opened_90d"] = int(features["emails_sent_90d"].iloc[positions[1]]) + 1
    frame.loc[frame.index[positions[2]], "revenue_365d"] = "lots"
    return frame, positions


@pytest.mark.parametrize(("fmt", "first_row", "label"), [("csv", 2, "line"), ("json", 1, "record")])
def test_bad_rows_fail_the_run_and_are_named(
    fmt: str, first_row: int, label: str, scenario: Scenario, tmp_path: Path
) -> None:
    planted, positions = _planted(scenario.features)
    path = export(planted, tmp_path / f"customers.{fmt}")
    output = tmp_path / "scores.csv"
    completed = run(["score", "--input", str(path), "--output", str(output)], scenario.home, tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert f"{len(positions)} of {len(planted):,} row(s) are invalid" in completed.stderr
    for position, column in zip(positions, ["orders_30d", "emails_opened_90d", "revenue_365d"], strict=True):
        customer_id = scenario.features["customer_id"].iloc[position]
        assert f"{label} {first_row + position} (customer_id {customer_id}): {column}: " in completed.stderr
    assert not output.exists()


def test_skip_invalid_scores_only_the_good_rows(scenario: Scenario, tmp_path: Path) -> None:
    planted, positions = _planted(scenario.features)
    path = export(planted, tmp_path / "customers.csv")
    output = tmp_path / "scores.csv"
    completed = run(
        ["score", "--input", str(path), "--output", str(output), "--skip-invalid"], scenario.home, tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    assert f"skipped {len(positions)} invalid row(s)" in completed.stderr
    for position in positions:
        assert f"line {position + 2} " in completed.stderr

    good = scenario.features.drop(index=scenario.features.index[positions])
    out = read_scores(output)
    assert len(out) == len(scenario.features) - len(positions)
    assert_same_scores(out, score_customers(scenario.result, good), scenario.version)


def test_without_a_saved_model_the_error_says_what_to_do(scenario: Scenario, tmp_path: Path) -> None:
    path = export(scenario.features.head(5), tmp_path / "customers.csv")
    output = tmp_path / "out.csv"
    completed = run(["score", "--input", str(path), "--output", str(output)], tmp_path / "empty", tmp_path)
    assert completed.returncode == 1
    assert "no propensity model under" in completed.stderr and "comptoir build" in completed.stderr
    assert not output.exists()


def test_score_says_when_the_scores_come_from_the_baseline(scenario: Scenario, tmp_path: Path) -> None:
    """A training that published the RFM baseline (its model lost): the CLI scores with it and says so."""
    import dataclasses

    from ml.propensity.baseline import BASELINE_SCORER

    lost = dataclasses.replace(scenario.result, scorer=BASELINE_SCORER,
                               scorer_reason="the model does not beat the RFM baseline: ROC AUC 0.45 vs 0.50")
    home = tmp_path / "home"
    save_model(lost, home / "models", trained_at=datetime.now(UTC))
    source = export(scenario.features.head(50), tmp_path / "leads.csv")
    done = run(["score", "--input", str(source), "--output", str(tmp_path / "scores.csv")], home, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Scores come from the RFM baseline, not the model: the model does not beat the RFM baseline" in done.stdout
    out = read_scores(tmp_path / "scores.csv")
    assert set(out["scorer"]) == {BASELINE_SCORER}
