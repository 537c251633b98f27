"""Saving and loading fitted propensity models under ``<models_dir>/propensity/``.

Layout (``models_dir`` is ``$COMPTOIR_HOME/models``, see ``orchestration.settings.Settings.models_dir``)::

    <models_dir>/propensity/<version>/model.joblib    every TrainingResult field (the fitted model included)
    <models_dir>/propensity/<version>/metadata.json   version, trained_at, model, cutoffs, metrics, features
    <models_dir>/propensity/LATEST                    the version load_model returns by default

The version is content-based, ``propensity-<as_of>-<12 hex>``: a sha256 of the training/evaluation data
fingerprint (``TrainingResult.data_fingerprint``), the training parameters, the estimator's hyper-parameters,
the feature names and the scikit-learn version. The same data and seed give the same version (and, the
training being seeded, the same scores); any change to the data gives a new one.

Writes are atomic: a version folder is written under a hidden temporary name and renamed into place, and
LATEST is replaced with ``os.replace``, so a reader sees the previous model or the new one, never half of
one. Saving a version that is already there rewrites nothing (the first ``trained_at`` stays) and only
points LATEST at it. ``model.joblib`` is a pickle: load models only from a folder you trust.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import joblib
import sklearn

from ml.propensity.model import TrainingResult
from ml.registry_files import LATEST_FILE
from ml.warehouse import finite_metrics

logger = logging.getLogger(__name__)

MODEL_FAMILY = "propensity"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1
_VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PLAIN_TYPES = (str, int, float, bool, type(None))
# Parameters that change how fast a model fits, never what it learns: not part of the version.
_NOT_SHAPING = frozenset({"n_jobs", "verbose"})


class ModelNotFoundError(FileNotFoundError):
    """No saved model (or not the requested version) under the models folder."""


class ModelLoadError(RuntimeError):
    """A saved model exists but cannot be read back (corrupt or written by an incompatible version)."""


@dataclass(frozen=True)
class SavedModel:
    version: str
    path: Path  # the version folder
    metadata: dict[str, Any]
    created: bool  # False when this version was already saved and nothing was rewritten


def family_dir(models_dir: Path) -> Path:
    return Path(models_dir) / MODEL_FAMILY


def _estimator_params(model: Any) -> dict[str, Any]:
    """The fitted estimator's plain hyper-parameters (nested estimators flattened by scikit-learn)."""
    get_params = getattr(model, "get_params", None)
    if get_params is None:
        return {"class": type(model).__name__}
    params = get_params(deep=True)
    plain = {
        k: v for k, v in params.items()
        if isinstance(v, _PLAIN_TYPES) and k.rsplit("__", 1)[-1] not in _NOT_SHAPING
    }
    return {"class": type(model).__name__, **plain}


def model_version(result: TrainingResult) -> str:
    """``propensity-<as_of or eval cutoff>-<first 12 hex of a sha256 of data fingerprint and parameters>``."""
    if not result.data_fingerprint:
        raise ValueError("this TrainingResult has no data fingerprint: train it with train_and_evaluate")
    payload = {
        "data": result.data_fingerprint,
        "training_params": result.training_params,
        "estimator": _estimator_params(result.model),
        "model_name": result.model_name,
        "feature_names": result.feature_names,
        "input_columns": result.input_columns,
        "sklearn": sklearn.__version__,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
    day = result.as_of if result.as_of is not None else result.eval_cutoff
    return f"{MODEL_FAMILY}-{day.isoformat()}-{digest}"


def _iso(day: date) -> str:
    return day.isoformat()


def build_metadata(result: TrainingResult, version: str, trained_at: datetime) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "version": version,
        "trained_at": trained_at.isoformat(),
        "model_name": result.model_name,
        "calibration": result.calibration_method,
        "as_of": _iso(result.as_of) if result.as_of is not None else None,
        "eval_cutoff": _iso(result.eval_cutoff),
        "training_cutoffs": [_iso(c) for c in result.training_cutoffs],
        "validation_cutoff": _iso(result.validation_cutoff),
        "metrics": finite_metrics(result.metrics),
        "baseline_metrics": finite_metrics(result.baseline_metrics),
        "validation_auc": finite_metrics(result.validation_auc),
        "feature_names": list(result.feature_names),
        "input_columns": list(result.input_columns),
        "country_categories": list(result.country_categories),
        "training_params": dict(result.training_params),
        "data_fingerprint": result.data_fingerprint,
        "scorer": result.scorer,
        "scorer_reason": result.scorer_reason,
        "horizon_days": result.horizon_days,
        "sklearn_version": sklearn.__version__,
    }


def _fsync_dir(path: Path) -> None:
    # Makes a rename durable; not every platform lets a directory be opened.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _is_complete(folder: Path) -> bool:
    return (folder / MODEL_FILE).is_file() and (folder / METADATA_FILE).is_file()


def _read_metadata(folder: Path) -> dict[str, Any]:
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot read {folder / METADATA_FILE}: {error}") from error
    if not isinstance(metadata, dict):
        raise ModelLoadError(f"{folder / METADATA_FILE} is not a JSON object")
    return metadata


def _write_version_folder(result: TrainingResult, root: Path, target: Path, metadata: dict[str, Any]) -> bool:
    """Write the version folder under a temporary name and rename it into place; False if another writer won."""
    unfinished = root / f".tmp-{target.name}-{uuid.uuid4().hex}"
    unfinished.mkdir()
    try:
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
        with (unfinished / MODEL_FILE).open("wb") as handle:
            joblib.dump({"format": FORMAT_VERSION, "fields": fields}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        text = json.dumps(metadata, indent=2, sort_keys=True, allow_nan=False) + "\n"
        _write_durably(unfinished / METADATA_FILE, text.encode("utf-8"))
        _fsync_dir(unfinished)
        if target.exists() and not _is_complete(target):
            # A partial folder not written by this module (a rename is all or nothing): set it aside.
            logger.warning("replacing incomplete model folder %s", target)
            aside = root / f".broken-{target.name}-{uuid.uuid4().hex}"
            target.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
        try:
            unfinished.rename(target)
        except OSError:
            if _is_complete(target):  # a concurrent save of the same version got there first
                return False
            raise
        _fsync_dir(root)
        return True
    finally:
        shutil.rmtree(unfinished, ignore_errors=True)


def _write_latest(root: Path, version: str) -> None:
    tmp = root / f".{LATEST_FILE}-{uuid.uuid4().hex}"
    try:
        _write_durably(tmp, f"{version}\n".encode())
        os.replace(tmp, root / LATEST_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(root)


def save_model(result: TrainingResult, models_dir: Path, trained_at: datetime) -> SavedModel:
    """Save ``result`` as ``<models_dir>/propensity/<version>/`` and point LATEST at it (see module docstring)."""
    version = model_version(result)
    root = family_dir(models_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / version
    created = False
    if not _is_complete(target):
        created = _write_version_folder(result, root, target, build_metadata(result, version, trained_at))
    metadata = _read_metadata(target)
    _write_latest(root, version)
    logger.info("%s propensity model %s at %s", "saved" if created else "kept existing", version, target)
    return SavedModel(version=version, path=target, metadata=metadata, created=created)


def list_versions(models_dir: Path) -> list[str]:
    """Saved versions (complete folders), sorted by name (the as-of date comes first in the name)."""
    root = family_dir(models_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and _is_complete(p))


def latest_version(models_dir: Path) -> str:
    root = family_dir(models_dir)
    try:
        version = (root / LATEST_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ModelNotFoundError(f"no propensity model under {root}: run `comptoir build` first") from None
    if not version:
        raise ModelLoadError(f"{root / LATEST_FILE} is empty")
    return version


def load_model(models_dir: Path, version: str | None = None) -> tuple[TrainingResult, dict[str, Any]]:
    """(TrainingResult, metadata) of ``version``, by default the one LATEST names."""
    root = family_dir(models_dir)
    chosen = version if version is not None else latest_version(models_dir)
    if not _VERSION_PATTERN.match(chosen):
        raise ValueError(f"not a model version: {chosen!r}")
    folder = root / chosen
    if not _is_complete(folder):
        available = list_versions(models_dir)
        hint = f"available: {', '.join(available)}" if available else "run `comptoir build` first"
        raise ModelNotFoundError(f"propensity model {chosen} not found under {root}; {hint}")
    metadata = _read_metadata(folder)
    if metadata.get("version") != chosen:
        raise ModelLoadError(f"{folder / METADATA_FILE} names version {metadata.get('version')!r}, not {chosen!r}")
    if metadata.get("sklearn_version") != sklearn.__version__:
        logger.warning(
            "model %s was saved with scikit-learn %s, running %s: scores may differ",
            chosen,
            metadata.get("sklearn_version"),
            sklearn.__version__,
        )
    try:
        payload = joblib.load(folder / MODEL_FILE)
    except Exception as error:  # unpickling can fail in many ways (truncated file, missing class, ...)
        raise ModelLoadError(f"cannot load {folder / MODEL_FILE}: {error}") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        raise ModelLoadError(f"{folder / MODEL_FILE} is not a format-{FORMAT_VERSION} propensity model")
    saved_fields: dict[str, Any] = payload["fields"]
    known = {f.name for f in dataclasses.fields(TrainingResult)}
    ignored = sorted(set(saved_fields) - known)
    if ignored:
        logger.warning("model %s: ignoring saved fields this code does not know: %s", chosen, ", ".join(ignored))
    try:
        result = TrainingResult(**{k: v for k, v in saved_fields.items() if k in known})
    except TypeError as error:
        raise ModelLoadError(f"{folder / MODEL_FILE} does not match this code's TrainingResult: {error}") from error
    logger.info("loaded propensity model %s from %s", chosen, folder)
    return result, metadata
