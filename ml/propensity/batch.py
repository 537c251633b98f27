"""Batch scoring outside the pipeline: score customers given in a file with a saved propensity model.

Input (by extension): ``.csv`` with a header line; ``.json``, one array of objects; ``.jsonl``, one object per
line. Each row is one customer: ``customer_id`` plus the model's input columns (``TrainingResult.input_columns``:
the numeric build_features columns and ``country_code``). Other columns are ignored, with a warning.

Rows are numbered as the user sees them: ``line N`` in a CSV file (the header is line 1; a quoted value
spanning several lines makes later numbers drift) and in a JSON-lines file, ``record N`` (1-based) in a
JSON array. Values follow features.py: empty (or JSON null) means "never" for ``days_since_*``, "no orders"
for ``average_order_value``, "no e-mails sent" for ``open_rate_90d`` and "unknown" for ``country_code``;
every other column needs a value. Checked per row: customer_id present; numbers parse and are finite;
counts and days are whole and not negative; money not negative; rates and category shares within [0, 1];
e-mails opened <= sent and clicked <= opened. Missing required columns are a file-level error.

Output (by extension): ``.csv`` with customer_id, score, segment, action, reason_1..reason_3, scorer
(``propensity_model``, or ``rfm_baseline`` when the saved training published the RFM baseline because the model
did not beat it), model_version, scored_at; ``.json`` (an array) or ``.jsonl`` with ``reasons`` as a list.
Written atomically (temporary file, then rename): a failed run leaves no output behind.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ml.propensity.baseline import MODEL_SCORER
from ml.propensity.model import N_REASONS, score_customers
from ml.propensity.registry import ModelLoadError, load_model

logger = logging.getLogger(__name__)

ID_COLUMN = "customer_id"
COUNTRY_COLUMN = "country_code"
INPUT_FORMATS: dict[str, str] = {".csv": "csv", ".json": "json", ".jsonl": "jsonl"}
OUTPUT_FORMATS: dict[str, str] = INPUT_FORMATS
LINE = "line"
RECORD = "record"
ROW = "row"  # a frame that did not come from read_input: 1-based position
MAX_LISTED_ROWS = 20

# Column families, by name, following features.py.
_NULLABLE = re.compile(r"^(days_since_.*|average_order_value|open_rate_\w+)$")
_WHOLE = re.compile(r"^(orders_\w+|emails_\w+|web_visits_\w+|days_since_\w+|tenure_days)$")
_MONEY = re.compile(r"^(revenue_\w+|average_order_value)$")
_UNIT_INTERVAL = re.compile(r"^(share_\w+|\w*_rate(_\w+)?)$")
_EMAIL_FUNNEL = re.compile(r"^emails_(opened|clicked)_(\w+)$")
_FUNNEL_PARENT = {"opened": "sent", "clicked": "opened"}


class InputError(ValueError):
    """The input (or output) file cannot be used as a whole: unreadable, wrong format, missing columns."""


@dataclass(frozen=True)
class RowError:
    row: int  # as the user sees it: see row_label
    row_label: str  # "line", "record" or "row"
    customer_id: str | None
    column: str
    message: str

    def describe(self) -> str:
        who = f" (customer_id {self.customer_id})" if self.customer_id else ""
        return f"{self.row_label} {self.row}{who}: {self.column}: {self.message}"


class InvalidRowsError(InputError):
    """Some rows are invalid (and --skip-invalid was not given), or no row is valid."""

    def __init__(self, errors: list[RowError], total_rows: int) -> None:
        self.errors = errors
        self.total_rows = total_rows
        self.invalid_rows = count_rows(errors)
        super().__init__(f"{self.invalid_rows:,} of {total_rows:,} row(s) are invalid")


@dataclass(frozen=True)
class ScoreSummary:
    input_path: Path
    output_path: Path
    model_version: str
    scored_at: str
    input_rows: int
    scored_rows: int
    errors: list[RowError] = field(default_factory=list)  # rows skipped (with skip_invalid)
    ignored_columns: list[str] = field(default_factory=list)
    segments: dict[str, int] = field(default_factory=dict)
    scorer: str = MODEL_SCORER
    scorer_reason: str = ""

    @property
    def invalid_rows(self) -> int:
        return count_rows(self.errors)


def count_rows(errors: list[RowError]) -> int:
    return len({(e.row_label, e.row) for e in errors})


def format_row_errors(errors: list[RowError], limit: int = MAX_LISTED_ROWS) -> list[str]:
    """One line per offending row (its problems joined by '; '), the first ``limit`` rows, then '... and N more'."""
    by_row: dict[tuple[str, int], list[RowError]] = {}
    for error in errors:
        by_row.setdefault((error.row_label, error.row), []).append(error)
    lines = []
    for (label, row), row_errors in list(by_row.items())[:limit]:
        who = f" (customer_id {row_errors[0].customer_id})" if row_errors[0].customer_id else ""
        problems = "; ".join(f"{e.column}: {e.message}" for e in row_errors)
        lines.append(f"{label} {row}{who}: {problems}")
    if len(by_row) > limit:
        lines.append(f"... and {len(by_row) - limit:,} more")
    return lines


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _file_format(path: Path, formats: dict[str, str], what: str) -> str:
    kind = formats.get(path.suffix.lower())
    if kind is None:
        raise InputError(
            f"unsupported {what} file type {path.suffix or '(none)'!r} for {path}: use {', '.join(formats)}"
        )
    return kind


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"input is a folder, not a file: {path}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8 text: {error}") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error}") from None


def _read_csv(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"{path} is empty")
    try:
        # Everything as text: validate() parses numbers itself, so it can name the values it rejects.
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} is empty") from None
    except pd.errors.ParserError as error:
        raise InputError(f"cannot parse {path} as CSV: {error}") from None
    frame = frame.fillna("")
    frame.index = pd.RangeIndex(2, len(frame) + 2, name=LINE)
    # Blank lines (every field empty) are not customers: dropped, the other rows keep their line numbers.
    blank = frame.apply(lambda column: column.str.strip().eq("")).all(axis=1) if len(frame.columns) else None
    return frame if blank is None else frame[~blank]


def _records_frame(records: object, path: Path, index: pd.Index) -> pd.DataFrame:
    if not isinstance(records, list):
        raise InputError(f"{path} must hold a JSON array of objects, one per customer")
    is_object = np.fromiter((isinstance(r, dict) for r in records), dtype=bool, count=len(records))
    if not is_object.all():
        where = ", ".join(f"{index.name} {n}" for n in index[~is_object][:MAX_LISTED_ROWS])
        raise InputError(f"{path}: every record must be a JSON object; not at {where}")
    frame = pd.DataFrame(records, index=index) if records else pd.DataFrame(index=index)
    return frame


def _read_json(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"{path} is empty")
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON: {error}") from None
    count = len(records) if isinstance(records, list) else 0
    return _records_frame(records, path, pd.RangeIndex(1, count + 1, name=RECORD))


def _read_jsonl(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    # Split on "\n" only: str.splitlines() would also split inside JSON strings holding U+2028 and friends.
    lines = pd.Series(text.split("\n"), dtype=object)
    kept = lines[lines.str.strip().ne("")] if len(lines) else lines
    if kept.empty:
        raise InputError(f"{path} is empty")
    line_numbers = kept.index.to_numpy() + 1
    # One parse of all lines as an array; lines never contain raw newlines, so the decoder's line is ours.
    try:
        records = json.loads("[" + ",\n".join(kept.tolist()) + "]")
    except json.JSONDecodeError as error:
        where = line_numbers[min(error.lineno, len(line_numbers)) - 1]
        raise InputError(f"{path} line {where} is not valid JSON: {error.msg}") from None
    if len(records) != len(kept):  # e.g. "1, 2" on one line parses as two values
        raise InputError(f"{path}: expected one JSON object per line")
    return _records_frame(records, path, pd.Index(line_numbers, name=LINE))


def read_input(path: Path) -> pd.DataFrame:
    """The customers in ``path`` (.csv, .json or .jsonl); the index holds row numbers (index name: line/record).

    Values are kept as read (CSV: text); :func:`validate` parses and checks them.
    """
    path = Path(path)
    kind = _file_format(path, INPUT_FORMATS, "input")
    reader = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl}[kind]
    frame = reader(path)
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise InputError(f"{path} has no customer rows")
    logger.info("read %d row(s) and %d column(s) from %s", len(frame), len(frame.columns), path)
    return frame


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def required_columns(input_columns: list[str]) -> list[str]:
    return [ID_COLUMN, *(c for c in input_columns if c != ID_COLUMN)]


def ignored_columns(frame: pd.DataFrame, input_columns: list[str]) -> list[str]:
    required = set(required_columns(input_columns))
    return [str(c) for c in frame.columns if c not in required]


def _row_numbers(frame: pd.DataFrame) -> tuple[str, np.ndarray]:
    if frame.index.name in (LINE, RECORD):
        return str(frame.index.name), frame.index.to_numpy(dtype=np.int64)
    return ROW, np.arange(1, len(frame) + 1, dtype=np.int64)


def _as_text(column: pd.Series) -> pd.Series:
    """Every value as stripped text, NA for empty or null (JSON numbers and booleans become their text)."""
    text = column.astype("string").str.strip()
    return text.mask(text.eq(""))


_Messages = Callable[[np.ndarray], pd.Series]


def _quoting(raw: pd.Series, message: str) -> _Messages:
    """Messages "'<value as written>' <message>" for the given positions."""
    return lambda positions: "'" + raw.iloc[positions] + "' " + message


def _funnel(text: pd.Series, parent: str, parent_text: pd.Series) -> _Messages:
    return lambda positions: (
        text.iloc[positions] + f" is greater than {parent} (" + parent_text.iloc[positions].to_numpy() + ")"
    )


class _Problems:
    """Accumulates (position, column, message) for offending cells, column by column (no per-row loop)."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.pieces: list[pd.DataFrame] = []
        self.flagged: dict[str, np.ndarray] = {}

    def add(self, column: str, mask: np.ndarray, message: str | _Messages) -> None:
        """Flag the ``mask`` cells of ``column`` not flagged yet (one problem per cell, the first found).

        ``message`` is fixed text or a function of the offending positions, so only those rows are formatted.
        """
        mask = mask & ~self.cell_flagged(column)
        positions = np.flatnonzero(mask)
        if len(positions) == 0:
            return
        if callable(message):
            text = message(positions).to_numpy(dtype=object)
        else:
            text = np.full(len(positions), message, dtype=object)
        self.pieces.append(pd.DataFrame({"position": positions, "column": column, "message": text}))
        self.flagged[column] = self.cell_flagged(column) | mask

    def cell_flagged(self, column: str) -> np.ndarray:
        return self.flagged.get(column, np.zeros(self.n_rows, dtype=bool))

    def row_flagged(self) -> np.ndarray:
        out = np.zeros(self.n_rows, dtype=bool)
        for mask in self.flagged.values():
            out |= mask
        return out

    def table(self, column_order: list[str]) -> pd.DataFrame:
        if not self.pieces:
            return pd.DataFrame({"position": [], "column": [], "message": []})
        out = pd.concat(self.pieces, ignore_index=True)
        rank = {c: i for i, c in enumerate(column_order)}
        out["rank"] = out["column"].map(rank)
        return out.sort_values(["position", "rank"], kind="stable").drop(columns="rank")




def validate(frame: pd.DataFrame, input_columns: list[str]) -> tuple[pd.DataFrame, list[RowError]]:
    """(valid rows ready for score_customers, one RowError per offending cell); see the module docstring.

    Raises InputError when required columns are missing (all of them listed). The valid frame keeps the
    input's index (row numbers); numeric columns are float64 with NaN for empty nullable values.
    """
    required = required_columns(input_columns)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"missing required column(s): {', '.join(missing)}")
    extra = ignored_columns(frame, input_columns)
    if extra:
        logger.warning("ignoring %d column(s) the model does not use: %s", len(extra), ", ".join(extra))

    label, numbers = _row_numbers(frame)
    n_rows = len(frame)
    problems = _Problems(n_rows)
    text = {c: _as_text(frame[c]) for c in required}
    numeric_columns = [c for c in required if c not in (ID_COLUMN, COUNTRY_COLUMN)]

    ids = text[ID_COLUMN]
    problems.add(ID_COLUMN, ids.isna().to_numpy(), "missing value")

    values: dict[str, np.ndarray] = {}
    for column in numeric_columns:  # a loop over columns; every check is vectorised over rows
        raw = text[column]
        blank = raw.isna().to_numpy()
        parsed = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if not _NULLABLE.match(column):
            problems.add(column, blank, "missing value")
        problems.add(column, ~blank & np.isnan(parsed), _quoting(raw, "is not a number"))
        problems.add(column, np.isinf(parsed), _quoting(raw, "is not a finite number"))
        with np.errstate(invalid="ignore"):
            if _WHOLE.match(column):
                fractional = np.isfinite(parsed) & (parsed != np.floor(parsed))
                problems.add(column, fractional, _quoting(raw, "is not a whole number"))
            if _UNIT_INTERVAL.match(column):
                problems.add(column, (parsed < 0) | (parsed > 1), _quoting(raw, "is outside [0, 1]"))
            elif _WHOLE.match(column) or _MONEY.match(column):
                problems.add(column, parsed < 0, _quoting(raw, "is negative"))
        values[column] = parsed

    for column in numeric_columns:
        match = _EMAIL_FUNNEL.match(column)
        parent = f"emails_{_FUNNEL_PARENT[match.group(1)]}_{match.group(2)}" if match else None
        if parent is None or parent not in values:
            continue
        usable = ~problems.cell_flagged(column) & ~problems.cell_flagged(parent)
        with np.errstate(invalid="ignore"):
            over = usable & (values[column] > values[parent])
        problems.add(column, over, _funnel(text[column], parent, text[parent]))

    table = problems.table(required)
    positions = table["position"].to_numpy(dtype=np.int64)
    error_ids = ids.iloc[positions].astype(object).where(ids.iloc[positions].notna(), None).tolist()
    errors = [
        RowError(row=int(row), row_label=label, customer_id=cid, column=str(column), message=str(message))
        for row, cid, column, message in zip(
            numbers[positions], error_ids, table["column"], table["message"], strict=True
        )
    ]

    keep = ~problems.row_flagged()
    valid = pd.DataFrame(index=frame.index[keep])
    valid[ID_COLUMN] = ids[keep].astype(object).to_numpy()
    for column in required[1:]:
        if column == COUNTRY_COLUMN:
            country = text[column][keep]
            valid[column] = country.astype(object).where(country.notna(), None).to_numpy()
        else:
            valid[column] = values[column][keep]
    duplicated = int(valid[ID_COLUMN].duplicated().sum())
    if duplicated:
        logger.warning("%d customer_id(s) appear more than once; every row is scored", duplicated)
    logger.info("validated %d row(s): %d valid, %d invalid", n_rows, int(keep.sum()), n_rows - int(keep.sum()))
    return valid, errors


# --------------------------------------------------------------------------------------------
# Scoring a file
# --------------------------------------------------------------------------------------------


def _output_frame(scores: pd.DataFrame, version: str, scored_at: str, kind: str) -> pd.DataFrame:
    out = scores[["customer_id", "score", "segment", "action"]].copy()
    if kind == "csv":
        reasons = pd.DataFrame(scores["reasons"].tolist(), index=scores.index).reindex(columns=range(N_REASONS))
        for i in range(N_REASONS):
            out[f"reason_{i + 1}"] = reasons[i].to_numpy()
    else:
        out["reasons"] = scores["reasons"]
    out["scorer"] = scores["scorer"]
    out["model_version"] = version
    out["scored_at"] = scored_at
    return out


def _write_atomically(frame: pd.DataFrame, path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if kind == "csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=kind == "jsonl", force_ascii=False, double_precision=15)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def score_file(
    input_path: Path,
    output_path: Path,
    models_dir: Path,
    *,
    version: str | None = None,
    skip_invalid: bool = False,
    scored_at: datetime | None = None,
) -> ScoreSummary:
    """Score the customers in ``input_path`` with a saved model and write ``output_path``.

    Raises InputError for an unusable file (format, missing columns), InvalidRowsError when a row is invalid
    and ``skip_invalid`` is False (or when no row is valid), registry errors when there is no model. Nothing
    is written unless scoring succeeds.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    out_kind = _file_format(output_path, OUTPUT_FORMATS, "output")
    _file_format(input_path, INPUT_FORMATS, "input")
    if input_path.resolve() == output_path.resolve():
        raise InputError(f"the output would overwrite the input: {input_path}")
    result, metadata = load_model(models_dir, version)
    model_version = str(metadata["version"])
    input_columns = list(result.input_columns) or list(metadata.get("input_columns") or [])
    if not input_columns:
        raise ModelLoadError(f"model {model_version} records no input columns: retrain it")

    frame = read_input(input_path)
    try:
        valid, errors = validate(frame, input_columns)
    except InputError as error:  # a file-level problem: say which file
        raise InputError(f"{input_path}: {error}") from None
    if errors and not skip_invalid:
        raise InvalidRowsError(errors, len(frame))
    if valid.empty:
        raise InvalidRowsError(errors, len(frame))

    stamp = (scored_at or datetime.now(UTC)).isoformat(timespec="seconds")
    scores = score_customers(result, valid.reset_index(drop=True))
    _write_atomically(_output_frame(scores, model_version, stamp, out_kind), output_path, out_kind)
    segments = {str(k): int(v) for k, v in scores["segment"].value_counts().items()}
    logger.info("scored %d of %d row(s) from %s into %s", len(scores), len(frame), input_path, output_path)
    return ScoreSummary(
        input_path=input_path,
        output_path=output_path,
        model_version=model_version,
        scored_at=stamp,
        input_rows=len(frame),
        scored_rows=len(scores),
        errors=errors,
        ignored_columns=ignored_columns(frame, input_columns),
        segments=segments,
        scorer=result.scorer,
        scorer_reason=result.scorer_reason,
    )
