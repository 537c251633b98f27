"""Lead scoring over HTTP with the saved propensity model: the same reading, validation and messages as
``comptoir score`` (ml/propensity/batch.py), the model loaded once per saved version.

JSON rows become a frame numbered ``record N`` (as batch.py numbers a JSON array); a CSV upload is read by
batch.py's own reader from a private temporary file, so its rows are ``line N`` as in ``comptoir score``.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ml.propensity.batch import RECORD, InputError, InvalidRowsError, RowError, read_input, validate
from ml.propensity.model import TrainingResult, score_customers
from ml.propensity.registry import latest_version, load_model

log = logging.getLogger(__name__)

MAX_BATCH_ROWS = 10_000


class ModelUnavailableError(RuntimeError):
    """No usable saved model (none saved yet, or it cannot be read)."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    result: TrainingResult
    input_columns: list[str]


@dataclass(frozen=True)
class Scored:
    rows: list[dict[str, Any]]
    errors: list[RowError]
    input_rows: int


class ModelCache:
    """The model LATEST names under ``models_dir``, loaded again only when LATEST points elsewhere."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None

    def latest_version(self) -> str | None:
        try:
            return latest_version(self.models_dir)
        except (OSError, RuntimeError):
            return None

    def get(self) -> LoadedModel:
        try:
            version = latest_version(self.models_dir)
            with self._lock:
                if self._loaded is None or self._loaded.version != version:
                    result, metadata = load_model(self.models_dir, version)
                    columns = list(result.input_columns) or list(metadata.get("input_columns") or [])
                    if not columns:
                        raise ModelUnavailableError(f"model {version} records no input columns: retrain it")
                    self._loaded = LoadedModel(version, result, columns)
                return self._loaded
        except ModelUnavailableError:
            raise
        except (OSError, RuntimeError, ValueError) as error:  # not found, unreadable, a bad LATEST
            raise ModelUnavailableError(str(error)) from None


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """JSON objects as batch.py frames a JSON array: values as given (dtype object), ``record N`` from 1."""
    index = pd.RangeIndex(1, len(records) + 1, name=RECORD)
    frame = pd.DataFrame(records, index=index, dtype=object) if records else pd.DataFrame(index=index)
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def csv_frame(content: bytes) -> pd.DataFrame:
    """An uploaded CSV read by batch.py's reader (line numbers, blank lines, the UTF-8 check, its messages)."""
    with tempfile.TemporaryDirectory(prefix="comptoir-api-") as folder:
        path = Path(folder) / "upload.csv"
        path.write_bytes(content)
        try:
            return read_input(path)
        except InputError as error:
            # batch.py names the file; the caller uploaded it, so say "the upload" instead of a temporary path
            raise InputError(str(error).replace(str(path), "the uploaded CSV")) from None


def score_frame(model: LoadedModel, frame: pd.DataFrame, skip_invalid: bool) -> Scored:
    """Validate (InputError for missing columns; InvalidRowsError as ``comptoir score`` raises it), then score."""
    if len(frame) > MAX_BATCH_ROWS:
        raise InputError(f"{len(frame):,} rows: at most {MAX_BATCH_ROWS:,} per request")
    valid, errors = validate(frame, model.input_columns)
    if errors and (not skip_invalid or valid.empty):
        raise InvalidRowsError(errors, len(frame))
    if valid.empty:
        raise InputError("no customer rows")
    scores = score_customers(model.result, valid)
    rows = [
        {"customer_id": str(row.customer_id), "score": float(row.score), "tier": str(row.segment),
         "action": str(row.action), "reasons": [str(reason) for reason in row.reasons if reason],
         "scorer": str(row.scorer), "model_version": model.version}
        for row in scores.itertuples(index=False)
    ]
    return Scored(rows=rows, errors=errors, input_rows=len(frame))
