"""Saving and loading the fitted segment model under ``<models_dir>/segments/``.

Layout (``models_dir`` is ``$COMPTOIR_HOME/models``, as for the propensity model)::

    <models_dir>/segments/<version>.json   the SegmentModel (standardisation, centroids, names), plain JSON
    <models_dir>/segments/LATEST           the version load_segment_model returns by default

The weekly re-fit saves a model; the daily refresh assigns every customer with the latest one. The version is
``segments-<as_of>-<12 hex>`` of the model's content, so the same fit saves the same file. Both files are
written beside and renamed into place: a reader sees the previous model or the new one, never half of one.
JSON keeps floats exact (``repr`` round-trips), so a loaded model assigns exactly as the fitted one.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

from ml.registry_files import LATEST_FILE
from ml.segments.model import MODEL_FAMILY, SegmentModel

logger = logging.getLogger(__name__)



class SegmentModelNotFoundError(FileNotFoundError):
    """No saved segment model (or not the requested version) under the models folder."""


def family_dir(models_dir: Path) -> Path:
    return Path(models_dir) / MODEL_FAMILY


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_segment_model(model: SegmentModel, models_dir: Path) -> Path:
    """Write ``model`` as ``<version>.json`` and point LATEST at it; returns the file."""
    if not model.version:
        raise ValueError("this SegmentModel has no version: fit it with fit_segment_model")
    folder = family_dir(models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.version}.json"
    _write_atomically(path, json.dumps(model.to_json(), sort_keys=True, indent=1, allow_nan=False))
    _write_atomically(folder / LATEST_FILE, model.version + "\n")
    logger.info("saved segment model %s to %s", model.version, path)
    return path


def load_segment_model(models_dir: Path, version: str | None = None) -> SegmentModel:
    """The saved model of ``version`` (default: LATEST)."""
    folder = family_dir(models_dir)
    if version is None:
        latest = folder / LATEST_FILE
        if not latest.is_file():
            raise SegmentModelNotFoundError(f"no segment model saved under {folder}: run the weekly re-fit first")
        version = latest.read_text(encoding="utf-8").strip()
    path = folder / f"{version}.json"
    if not path.is_file():
        raise SegmentModelNotFoundError(f"segment model {version} not found under {folder}")
    return SegmentModel.from_json(json.loads(path.read_text(encoding="utf-8")))
