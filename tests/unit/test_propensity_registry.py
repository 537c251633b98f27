"""Saving and loading propensity models (ml/propensity/registry.py) on the synthetic warehouse of
test_propensity_model.py: round trip, content-based versions, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sklearn

from ml.propensity import registry
from ml.propensity.features import build_features
from ml.propensity.model import TrainingResult, design_matrix, score_customers, train_and_evaluate
from ml.propensity.registry import (
    LATEST_FILE,
    ModelNotFoundError,
    list_versions,
    load_model,
    model_version,
    save_model,
)
from orchestration.settings import Settings
from tests.unit.test_propensity_model import AS_OF, HORIZON, _make_synthetic_con

# Builds feature warehouses with dbt and trains models: minutes, not seconds (README: Contributing).
pytestmark = pytest.mark.slow

TRAINING_CUTOFFS = 2  # the minimum (one to fit, one to validate): keeps each fit to a few seconds
TRAINED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _train(con: duckdb.DuckDBPyConnection) -> TrainingResult:
    return train_and_evaluate(con, seed=0)


def _shop_con(root: Path, **dbt_vars: object) -> duckdb.DuckDBPyConnection:
    return _make_synthetic_con(root, propensity_max_training_cutoffs=TRAINING_CUTOFFS, **dbt_vars)


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _shop_con(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def trained(con: duckdb.DuckDBPyConnection) -> TrainingResult:
    return _train(con)


@pytest.fixture(scope="module")
def features(con: duckdb.DuckDBPyConnection, trained: TrainingResult) -> pd.DataFrame:
    return build_features(con, [trained.eval_cutoff + timedelta(days=HORIZON)])


def _family(models_dir: Path) -> Path:
    return models_dir / "propensity"


def test_round_trip_gives_identical_probabilities_scores_and_metadata(
    tmp_path: Path, trained: TrainingResult, features: pd.DataFrame
) -> None:
    saved = save_model(trained, tmp_path, trained_at=TRAINED_AT)
    assert saved.created
    assert saved.path == _family(tmp_path) / saved.version
    assert sorted(p.name for p in saved.path.iterdir()) == ["metadata.json", "model.joblib"]
    assert (_family(tmp_path) / LATEST_FILE).read_text().strip() == saved.version

    loaded, metadata = load_model(tmp_path)
    x = design_matrix(features, trained.country_categories, trained.feature_names)
    np.testing.assert_array_equal(loaded.model.predict_proba(x), trained.model.predict_proba(x))
    pd.testing.assert_frame_equal(score_customers(loaded, features), score_customers(trained, features))
    for name in ("feature_means", "feature_stds", "feature_signs"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(trained, name))
    assert loaded.input_columns == trained.input_columns
    assert loaded.data_fingerprint == trained.data_fingerprint

    on_disk = json.loads((saved.path / "metadata.json").read_text())
    assert on_disk == metadata == saved.metadata
    assert metadata["version"] == saved.version == model_version(trained)
    assert datetime.fromisoformat(metadata["trained_at"]) == TRAINED_AT
    assert metadata["model_name"] == trained.model_name
    assert metadata["calibration"] == trained.calibration_method
    assert metadata["eval_cutoff"] == trained.eval_cutoff.isoformat()
    assert metadata["validation_cutoff"] == trained.validation_cutoff.isoformat()
    assert metadata["training_cutoffs"] == [c.isoformat() for c in trained.training_cutoffs]
    assert metadata["feature_names"] == trained.feature_names
    assert metadata["input_columns"] == trained.input_columns
    assert metadata["sklearn_version"] == sklearn.__version__
    for key, values in (("metrics", trained.metrics), ("baseline_metrics", trained.baseline_metrics)):
        assert set(metadata[key]) == set(values)
        for name, value in values.items():
            assert metadata[key][name] == (None if math.isnan(value) else pytest.approx(value))


def test_input_columns_are_the_raw_feature_columns_the_model_reads(
    trained: TrainingResult, features: pd.DataFrame
) -> None:
    assert trained.input_columns[-1] == "country_code"
    assert set(trained.input_columns) <= set(features.columns)
    assert {"customer_id", "cutoff", "loyalty_tier", "label"}.isdisjoint(trained.input_columns)
    # Every model feature is derived from an input column (missing flags and country indicators included).
    only_inputs = features[["customer_id", *trained.input_columns]]
    pd.testing.assert_frame_equal(score_customers(trained, only_inputs), score_customers(trained, features))


def test_version_is_stable_for_the_same_data_and_changes_with_data_or_parameters(
    tmp_path: Path, trained: TrainingResult
) -> None:
    from tests.feature_builds import connect_features
    from tests.unit.test_propensity_model import synthetic_shop

    version = model_version(trained)
    assert version.startswith(f"propensity-{AS_OF.isoformat()}-")

    again = _train(_shop_con(tmp_path / "same-shop"))  # a warehouse built again from identical data
    assert model_version(again) == version
    first = save_model(trained, tmp_path, trained_at=TRAINED_AT)
    second = save_model(again, tmp_path, trained_at=TRAINED_AT + timedelta(days=1))
    assert (second.version, second.created) == (first.version, False)
    assert second.metadata["trained_at"] == first.metadata["trained_at"]  # nothing rewritten
    assert list_versions(tmp_path) == [version]

    # One more web session, the day before the oldest training cutoff.
    shop = synthetic_shop()
    shop.sessions = [*(shop.sessions or []), (min(c[0] for c in shop.customers),
                                             trained.training_cutoffs[0] - timedelta(days=1))]
    changed = _train(connect_features(shop, tmp_path / "changed-shop", {
        "as_of_date": AS_OF, "propensity_horizon_days": HORIZON, "propensity_max_training_cutoffs": TRAINING_CUTOFFS,
    }))
    assert changed.data_fingerprint != trained.data_fingerprint
    assert model_version(changed) != version

    # The training parameters are part of the version too (a different seed fits a different model).
    reseeded = dataclasses.replace(trained, training_params={**trained.training_params, "seed": 1})
    assert model_version(reseeded) != version


def test_a_result_without_fingerprint_has_no_version(trained: TrainingResult) -> None:
    with pytest.raises(ValueError, match="no data fingerprint"):
        model_version(dataclasses.replace(trained, data_fingerprint=""))


def _second_version(trained: TrainingResult) -> TrainingResult:
    # A different fingerprint stands for different training data: a second, distinct version.
    return dataclasses.replace(trained, data_fingerprint="0" * 64)


def test_latest_moves_to_each_save_and_older_versions_stay_loadable(tmp_path: Path, trained: TrainingResult) -> None:
    first = save_model(trained, tmp_path, trained_at=TRAINED_AT)
    second = save_model(_second_version(trained), tmp_path, trained_at=TRAINED_AT)
    assert first.version != second.version
    assert (_family(tmp_path) / LATEST_FILE).read_text().strip() == second.version
    assert load_model(tmp_path)[1]["version"] == second.version
    assert load_model(tmp_path, first.version)[1]["version"] == first.version
    assert sorted(list_versions(tmp_path)) == sorted([first.version, second.version])
    # No temporary files or folders are left behind.
    assert sorted(p.name for p in _family(tmp_path).iterdir()) == sorted([LATEST_FILE, first.version, second.version])

    save_model(trained, tmp_path, trained_at=TRAINED_AT)  # re-saving an existing version points LATEST back
    assert (_family(tmp_path) / LATEST_FILE).read_text().strip() == first.version


def test_a_save_that_fails_midway_leaves_the_previous_model_in_place(
    tmp_path: Path, trained: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = save_model(trained, tmp_path, trained_at=TRAINED_AT)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(registry.joblib, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(_second_version(trained), tmp_path, trained_at=TRAINED_AT)
    monkeypatch.undo()
    assert sorted(p.name for p in _family(tmp_path).iterdir()) == sorted([LATEST_FILE, first.version])
    assert load_model(tmp_path)[1]["version"] == first.version

    # LATEST is replaced in one step: a failure before the rename leaves the old pointer intact.
    monkeypatch.setattr(registry.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(_second_version(trained), tmp_path, trained_at=TRAINED_AT)
    monkeypatch.undo()
    assert (_family(tmp_path) / LATEST_FILE).read_text().strip() == first.version
    assert not [p.name for p in _family(tmp_path).iterdir() if p.name.startswith(".")]


def test_an_incomplete_version_folder_is_replaced(tmp_path: Path, trained: TrainingResult) -> None:
    partial = _family(tmp_path) / model_version(trained)
    partial.mkdir(parents=True)
    (partial / "metadata.json").write_text("{")
    saved = save_model(trained, tmp_path, trained_at=TRAINED_AT)
    assert saved.created
    assert load_model(tmp_path)[1]["version"] == saved.version


def test_clear_errors_when_there_is_no_model(tmp_path: Path, trained: TrainingResult) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no propensity model under .*: run `comptoir build` first"):
        load_model(tmp_path)
    saved = save_model(trained, tmp_path, trained_at=TRAINED_AT)
    with pytest.raises(ModelNotFoundError, match=rf"propensity-1999-01-01-x not found .*available: {saved.version}"):
        load_model(tmp_path, "propensity-1999-01-01-x")
    with pytest.raises(ValueError, match="not a model version"):
        load_model(tmp_path, "../elsewhere")


def test_settings_put_models_under_comptoir_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COMPTOIR_HOME", str(tmp_path / "home"))
    assert Settings.from_env().models_dir == (tmp_path / "home" / "models").resolve()
