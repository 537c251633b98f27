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
CSV cells that a spreadsheet would run as a formula get a leading ``'`` (ml/csv_safety.py); JSON keeps values as
they are. Written atomically (temporary file, then rename): a failed run leaves no output behind.

Memory does not grow with the file: :func:`score_file` streams it, read and validated ``CHUNK_ROWS`` rows at a time
(CSV with pandas' chunked reader, JSON lines in batches of lines, a JSON array with ijson's incremental parser,
element by element), its valid rows scored and appended to the temporary output ``SCORE_ROWS`` at a time.
Validation and messages are the ones of a whole-file read (:func:`read_input` + :func:`validate`): a chunk's rows
keep their numbers, a JSON value keeps the text it was written with. The first invalid row (without
``skip_invalid``) deletes the temporary output and stops the scoring, and the rest of the file is still validated
so that the error names every invalid row. What does grow with the file is small: 8 bytes per row (a hash of its
customer_id, for the duplicate warning) and the messages of the first ``MAX_KEPT_ROWS`` invalid rows.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

import ijson
import numpy as np
import pandas as pd

from ml.csv_safety import write_csv
from ml.progress import step
from ml.propensity.baseline import MODEL_SCORER
from ml.propensity.model import N_REASONS, TrainingResult, score_customers
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
MAX_KEPT_ROWS = 1_000  # invalid rows whose messages are kept (the others are counted): bounded memory
# Rows read and validated at a time (DECISIONS.md "Batch scoring in chunks"): a JSON chunk takes ~8 KB a row while
# it is read (a dict per record), a CSV one ~3 KB, above the ~250 MB that the interpreter, pandas and the model take.
CHUNK_ROWS = 10_000
# Valid rows scored and written at a time: each call of the model costs ~0.15 s whatever its size (three calibrated
# forests of 200 trees), 16 s per million rows in calls of 10,000, 6 s in calls of 25,000; scoring and writing
# take ~2 KB a row (50,000: +60 MB of peak for 2 s less).
SCORE_ROWS = 25_000
_BLANK_PEEK = 1 << 16

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

    def __init__(self, errors: list[RowError], total_rows: int, invalid_rows: int | None = None) -> None:
        self.errors = errors  # the problems of the first MAX_KEPT_ROWS invalid rows when read by score_file
        self.total_rows = total_rows
        self.invalid_rows = count_rows(errors) if invalid_rows is None else invalid_rows
        super().__init__(f"{self.invalid_rows:,} of {total_rows:,} row(s) are invalid")


@dataclass(frozen=True)
class ScoreSummary:
    input_path: Path
    output_path: Path
    model_version: str
    scored_at: str
    input_rows: int
    scored_rows: int
    errors: list[RowError] = field(default_factory=list)  # rows skipped (with skip_invalid): the first MAX_KEPT_ROWS
    invalid_rows: int = 0  # rows skipped, all of them
    ignored_columns: list[str] = field(default_factory=list)
    segments: dict[str, int] = field(default_factory=dict)
    scorer: str = MODEL_SCORER
    scorer_reason: str = ""


def count_rows(errors: list[RowError]) -> int:
    return len({(e.row_label, e.row) for e in errors})


def format_row_errors(errors: list[RowError], limit: int = MAX_LISTED_ROWS, invalid_rows: int | None = None
                      ) -> list[str]:
    """One line per offending row (its problems joined by '; '), the first ``limit`` rows, then '... and N more'.

    ``invalid_rows``: how many rows are invalid in all, when ``errors`` holds only the first ones.
    """
    by_row: dict[tuple[str, int], list[RowError]] = {}
    for error in errors:
        by_row.setdefault((error.row_label, error.row), []).append(error)
    lines = []
    for (label, row), row_errors in list(by_row.items())[:limit]:
        who = f" (customer_id {row_errors[0].customer_id})" if row_errors[0].customer_id else ""
        problems = "; ".join(f"{e.column}: {e.message}" for e in row_errors)
        lines.append(f"{label} {row}{who}: {problems}")
    total = max(len(by_row), invalid_rows or 0)
    if total > limit:
        lines.append(f"... and {total - limit:,} more")
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


def _input_error(path: Path, error: Exception) -> InputError:
    """A reading error (raised at open or anywhere in the file) as the InputError the user sees."""
    if isinstance(error, FileNotFoundError):
        return InputError(f"input file not found: {path}")
    if isinstance(error, IsADirectoryError):
        return InputError(f"input is a folder, not a file: {path}")
    if isinstance(error, UnicodeDecodeError):
        return InputError(f"{path} is not UTF-8 text: {error}")
    return InputError(f"cannot read {path}: {error}")


@contextmanager
def _reading(path: Path, binary: bool = False) -> Iterator[TextIO | BinaryIO]:
    """``path`` open for reading, a UTF-8 byte-order mark skipped; read errors inside the block become InputError.

    Text: universal newlines, as Path.read_text reads ("\\r\\n" and "\\r" end lines as "\\n" does).
    """
    try:
        with open(path, "rb") if binary else open(path, encoding="utf-8-sig") as handle:
            if binary and handle.read(3) != b"\xef\xbb\xbf":
                handle.seek(0)
            if _is_blank(handle):
                raise InputError(f"{path} is empty")
            yield handle
    except (OSError, UnicodeDecodeError) as error:
        raise _input_error(path, error) from None


def _is_blank(handle: TextIO | BinaryIO) -> bool:
    """Whether the rest of the file is whitespace only, reading only as far as the first other character; the
    handle is put back where it was."""
    start = handle.tell()
    blank = True
    while block := handle.read(_BLANK_PEEK):
        if block.strip():
            blank = False
            break
    handle.seek(start)
    return blank


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """CSV rows ``chunk_rows`` at a time; index: line numbers (header = line 1), blank lines dropped."""
    with _reading(path) as handle:
        first_line = 2
        try:
            # Everything as text: validate() parses numbers itself, so it can name the values it rejects.
            reader = pd.read_csv(handle, dtype=str, keep_default_na=False, skip_blank_lines=False,
                                 chunksize=chunk_rows)
            with reader:
                for frame in reader:
                    frame = frame.fillna("")
                    frame.index = pd.RangeIndex(first_line, first_line + len(frame), name=LINE)
                    first_line += len(frame)
                    frame.columns = [str(c).strip() for c in frame.columns]
                    if len(frame.columns):
                        # Blank lines (every field empty) are not customers: dropped, the others keep their numbers.
                        frame = frame[~frame.apply(lambda column: column.str.strip().eq("")).all(axis=1).to_numpy()]
                    yield frame
        except pd.errors.EmptyDataError:
            raise InputError(f"{path} is empty") from None
        except pd.errors.ParserError as error:
            raise InputError(f"cannot parse {path} as CSV: {error}") from None


def _records_frame(records: list[object], path: Path, index: pd.Index) -> pd.DataFrame:
    """One frame of JSON records. Values stay the Python objects JSON gave (dtype object), so a value's text is the
    one it was written with whatever the other rows of its chunk hold (1 stays "1", not "1.0" beside a null)."""
    is_object = np.fromiter((isinstance(r, dict) for r in records), dtype=bool, count=len(records))
    if not is_object.all():
        where = ", ".join(f"{index.name} {n}" for n in index[~is_object][:MAX_LISTED_ROWS])
        raise InputError(f"{path}: every record must be a JSON object; not at {where}")
    frame = pd.DataFrame(records, index=index, dtype=object) if records else pd.DataFrame(index=index)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _json_message(error: Exception) -> str:
    """The first line of an ijson error: its parser's message (the next lines quote the file)."""
    message = error.args[0] if error.args else str(error)
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return str(message).strip().splitlines()[0] if str(message).strip() else type(error).__name__


def _first_byte(handle: BinaryIO) -> bytes:
    """The first byte that is not whitespace (b"" at the end); the handle is put back where it was."""
    start = handle.tell()
    while block := handle.read(_BLANK_PEEK):
        if stripped := block.lstrip():
            handle.seek(start)
            return stripped[:1]
    handle.seek(start)
    return b""


def _json_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A JSON array's elements ``chunk_rows`` at a time, parsed incrementally (ijson); index: record numbers."""
    with _reading(path, binary=True) as handle:
        parsed = itertools.count(1)  # advanced once per element parsed: says where a syntax error is
        try:
            if _first_byte(handle) != b"[":
                next(ijson.parse(handle), None)  # raises when the file is not JSON at all
                raise InputError(f"{path} must hold a JSON array of objects, one per customer")
            # Straight from the file: ijson's C parser reads it in blocks and hands over whole elements.
            items = (item for item, _ in zip(ijson.items(handle, "item", use_float=True), parsed, strict=False))
            record = 1
            while batch := list(itertools.islice(items, chunk_rows)):
                frame = _records_frame(batch, path, pd.RangeIndex(record, record + len(batch), name=RECORD))
                record += len(batch)
                del batch  # the records' dicts go while the chunk is validated and scored
                yield frame
        except ijson.JSONError as error:
            where = next(parsed) - 1
            raise InputError(f"{path} is not valid JSON: {_json_message(error)} (after record {where:,})") from None


def _jsonl_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """JSON lines ``chunk_rows`` lines at a time (blank lines skipped); index: line numbers."""
    with _reading(path) as handle:
        first_line = 1
        while lines := list(itertools.islice(handle, chunk_rows)):
            numbers = np.arange(first_line, first_line + len(lines))
            first_line += len(lines)
            # Lines end at "\n" only: str.splitlines() would also split inside JSON strings holding U+2028 and friends.
            text = pd.Series(lines, dtype=object).str.removesuffix("\n")
            keep = text.str.strip().ne("").to_numpy()
            if not keep.any():
                continue
            kept, line_numbers = text[keep].tolist(), numbers[keep]
            # One parse of the chunk's lines as an array; lines hold no raw newline, so the decoder's line is ours.
            try:
                records = json.loads("[" + ",\n".join(kept) + "]")
            except json.JSONDecodeError as error:
                where = line_numbers[min(error.lineno, len(line_numbers)) - 1]
                raise InputError(f"{path} line {where} is not valid JSON: {error.msg}") from None
            if len(records) != len(kept):  # e.g. "1, 2" on one line parses as two values
                raise InputError(f"{path}: expected one JSON object per line")
            frame = _records_frame(records, path, pd.Index(line_numbers, name=LINE))
            del lines, text, kept, records  # gone while the chunk is validated and scored
            yield frame


def iter_input(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The customers in ``path`` (.csv, .json or .jsonl), at most ``chunk_rows`` rows at a time.

    Each chunk's index holds the rows' numbers (index name: line/record), its columns are stripped, its values kept
    as read (CSV: text; JSON: the parsed values); :func:`validate` parses and checks them. A chunk may be empty (a
    CSV chunk of blank lines). Raises InputError for an unusable file, when reading gets to the problem: a
    malformed line further in the file comes after the chunks before it. A file without customer rows yields none.
    """
    path = Path(path)
    kind = _file_format(path, INPUT_FORMATS, "input")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    reader = {"csv": _csv_chunks, "json": _json_chunks, "jsonl": _jsonl_chunks}[kind]
    return reader(path, chunk_rows)


def read_input(path: Path) -> pd.DataFrame:
    """The customers in ``path`` (.csv, .json or .jsonl), all in one frame (:func:`iter_input`'s chunks together).

    For files that fit in memory (tests, small files); :func:`score_file` streams instead.
    """
    path = Path(path)
    chunks = [chunk for chunk in iter_input(path) if not chunk.empty]
    if not chunks:
        raise InputError(f"{path} has no customer rows")
    frame = pd.concat(chunks, sort=False) if len(chunks) > 1 else chunks[0]
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


def missing_columns_error(missing: list[str]) -> InputError:
    return InputError(f"missing required column(s): {', '.join(missing)}")


def _warn_ignored(extra: list[str]) -> None:
    if extra:
        logger.warning("ignoring %d column(s) the model does not use: %s", len(extra), ", ".join(extra))


def _row_numbers(frame: pd.DataFrame) -> tuple[str, np.ndarray]:
    if frame.index.name in (LINE, RECORD):
        return str(frame.index.name), frame.index.to_numpy(dtype=np.int64)
    return ROW, np.arange(1, len(frame) + 1, dtype=np.int64)


def _as_text(column: pd.Series) -> pd.Series:
    """Every value as stripped text, NA for empty or null (JSON numbers and booleans become their text)."""
    text = column.astype("string").str.strip()
    return text.mask(text.eq(""))


_Messages = Callable[[np.ndarray], pd.Series]
_TextAt = Callable[[np.ndarray], pd.Series]  # the text of a column's cells at the given positions
# What a column of JSON numbers (and nulls) infers as: parsed as numbers straight away.
_JSON_NUMBERS = frozenset({"integer", "floating", "mixed-integer-float", "empty"})


@dataclass(frozen=True)
class _NumericCells:
    """A numeric column of a chunk: its values parsed (NaN where empty or not a number), its empty cells, and the
    text of any cell, as written, for the messages that quote it."""

    parsed: np.ndarray
    blank: np.ndarray
    text_at: _TextAt


def _numeric_cells(column: pd.Series) -> _NumericCells:
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in _JSON_NUMBERS:
        # JSON numbers: no text for the whole column (a Python str() per cell, a third of a JSON file's scoring
        # time), only for the few cells a message quotes. The same numbers and the same text as the text path.
        parsed = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return _NumericCells(parsed, column.isna().to_numpy(), lambda positions: _as_text(column.iloc[positions]))
    text = _as_text(column)
    parsed = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return _NumericCells(parsed, text.isna().to_numpy(), lambda positions: text.iloc[positions])


def _quoting(text_at: _TextAt, message: str) -> _Messages:
    """Messages "'<value as written>' <message>" for the given positions."""
    return lambda positions: "'" + text_at(positions) + "' " + message


def _funnel(text_at: _TextAt, parent: str, parent_text_at: _TextAt) -> _Messages:
    return lambda positions: (
        text_at(positions) + f" is greater than {parent} (" + parent_text_at(positions).to_numpy() + ")"
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
        raise missing_columns_error(missing)
    _warn_ignored(ignored_columns(frame, input_columns))
    valid, errors = validate_rows(frame, required)
    duplicated = int(valid[ID_COLUMN].duplicated().sum())
    if duplicated:
        logger.warning("%d customer_id(s) appear more than once; every row is scored", duplicated)
    logger.info("validated %d row(s): %d valid, %d invalid", len(frame), len(valid), len(frame) - len(valid))
    return valid, errors


def validate_rows(frame: pd.DataFrame, required: list[str]) -> tuple[pd.DataFrame, list[RowError]]:
    """The row checks of :func:`validate` on a frame holding every ``required`` column (a chunk of a file)."""
    label, numbers = _row_numbers(frame)
    n_rows = len(frame)
    problems = _Problems(n_rows)
    numeric_columns = [c for c in required if c not in (ID_COLUMN, COUNTRY_COLUMN)]

    ids = _as_text(frame[ID_COLUMN])
    problems.add(ID_COLUMN, ids.isna().to_numpy(), "missing value")

    values: dict[str, np.ndarray] = {}
    texts: dict[str, _TextAt] = {}
    for column in numeric_columns:  # a loop over columns; every check is vectorised over rows
        cells = _numeric_cells(frame[column])
        parsed, blank, raw = cells.parsed, cells.blank, cells.text_at
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
        texts[column] = raw

    for column in numeric_columns:
        match = _EMAIL_FUNNEL.match(column)
        parent = f"emails_{_FUNNEL_PARENT[match.group(1)]}_{match.group(2)}" if match else None
        if parent is None or parent not in values:
            continue
        usable = ~problems.cell_flagged(column) & ~problems.cell_flagged(parent)
        with np.errstate(invalid="ignore"):
            over = usable & (values[column] > values[parent])
        problems.add(column, over, _funnel(texts[column], parent, texts[parent]))

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
            country = _as_text(frame[column])[keep]
            valid[column] = country.astype(object).where(country.notna(), None).to_numpy()
        else:
            valid[column] = values[column][keep]
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


class _AtomicOutput:
    """The output written chunk by chunk into a temporary file beside it, renamed over it by :meth:`commit`.

    The temporary file is created at the first write. :meth:`discard` (also on leaving the ``with`` block without
    a commit) deletes it: a failed or refused run leaves nothing behind. A JSON array is written as ``[``, each
    chunk's records, ``]``: the bytes of one ``to_json`` of the whole frame.
    """

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        self.rows = 0
        self.wanted = True  # False once discarded or committed
        self.handle: TextIO | None = None

    def _handle(self) -> TextIO:
        if self.handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # newline="": CSV rows end with CRLF exactly as written (ml/csv_safety.py), JSON lines with "\n".
            self.handle = self.tmp.open("w", encoding="utf-8", newline="")
        return self.handle

    def write(self, frame: pd.DataFrame) -> None:
        assert self.wanted, "written after a discard or a commit"
        if frame.empty:
            return
        handle = self._handle()
        if self.kind == "csv":
            write_csv(frame, handle, header=self.rows == 0)
        else:
            text = frame.to_json(orient="records", lines=self.kind == "jsonl", force_ascii=False,
                                 double_precision=15)
            # An array: this chunk's records without their brackets, after a comma from the chunk before.
            handle.write(text if self.kind == "jsonl" else ("[" if self.rows == 0 else ",") + text[1:-1])
        self.rows += len(frame)

    def commit(self) -> None:
        assert self.wanted, "committed after a discard"
        handle = self._handle()
        if self.kind == "json":
            handle.write("]" if self.rows else "[]")
        handle.close()
        self.handle = None
        self.wanted = False
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.wanted = False
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> _AtomicOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.wanted:
            self.discard()


class _BatchScorer:
    """Validated rows gathered from the chunks, then scored and written ``score_rows`` at a time."""

    def __init__(self, result: TrainingResult, output: _AtomicOutput, tally: _Tally, version: str, stamp: str,
                 score_rows: int) -> None:
        self.result, self.output, self.tally = result, output, tally
        self.version, self.stamp, self.score_rows = version, stamp, score_rows
        self.pending: list[pd.DataFrame] = []
        self.pending_rows = 0

    def add(self, valid: pd.DataFrame) -> None:
        self.pending.append(valid)
        self.pending_rows += len(valid)
        if self.pending_rows >= self.score_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        valid = pd.concat(self.pending) if len(self.pending) > 1 else self.pending[0]
        self.drop()
        scores = score_customers(self.result, valid.reset_index(drop=True))
        self.output.write(_output_frame(scores, self.version, self.stamp, self.output.kind))
        self.tally.add_scores(valid, scores)

    def drop(self) -> None:
        self.pending, self.pending_rows = [], 0


@dataclass
class _Tally:
    """What score_file learns of the file chunk by chunk, in memory that does not grow with it (but 8 B per row)."""

    input_rows: int = 0
    scored_rows: int = 0
    invalid_rows: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_KEPT_ROWS invalid rows' problems
    columns: dict[str, None] = field(default_factory=dict)  # every column seen, in order
    segments: Counter[str] = field(default_factory=Counter)
    id_hashes: list[np.ndarray] = field(default_factory=list)  # customer_id hashes, for the duplicate warning

    def add_rows(self, chunk: pd.DataFrame, errors: list[RowError]) -> None:
        self.input_rows += len(chunk)
        self.columns.update(dict.fromkeys(chunk.columns))
        invalid = count_rows(errors)
        if self.invalid_rows < MAX_KEPT_ROWS and errors:
            kept = sorted({(e.row_label, e.row) for e in errors}, key=lambda key: key[1])
            kept_rows = set(kept[: MAX_KEPT_ROWS - self.invalid_rows])
            self.errors.extend(e for e in errors if (e.row_label, e.row) in kept_rows)
        self.invalid_rows += invalid

    def add_scores(self, valid: pd.DataFrame, scores: pd.DataFrame) -> None:
        self.scored_rows += len(scores)
        self.segments.update(scores["segment"].value_counts().to_dict())
        self.id_hashes.append(pd.util.hash_array(valid[ID_COLUMN].to_numpy(dtype=object)))

    def duplicated_ids(self) -> int:
        hashes = np.concatenate(self.id_hashes) if self.id_hashes else np.empty(0, dtype=np.uint64)
        return len(hashes) - len(np.unique(hashes))


def _with_required(chunk: pd.DataFrame, required: list[str], fixed_columns: bool, path: Path) -> pd.DataFrame:
    """``chunk`` with every required column. A CSV chunk has the file's columns: one missing is a file-level error
    at once. A JSON chunk has the keys its records hold: a missing one is added empty here, and only a column that
    no record of the whole file holds is the file-level error (as when the file is read whole)."""
    missing = [c for c in required if c not in chunk.columns]
    if not missing:
        return chunk
    if fixed_columns:
        raise InputError(f"{path}: {missing_columns_error(missing)}")
    return chunk.reindex(columns=[*chunk.columns, *missing])


def score_file(
    input_path: Path,
    output_path: Path,
    models_dir: Path,
    *,
    version: str | None = None,
    skip_invalid: bool = False,
    scored_at: datetime | None = None,
    chunk_rows: int = CHUNK_ROWS,
    score_rows: int = SCORE_ROWS,
) -> ScoreSummary:
    """Score the customers in ``input_path`` with a saved model and write ``output_path``: read and validated
    ``chunk_rows`` rows at a time, scored and written ``score_rows`` valid rows at a time (see the module docstring).

    Raises InputError for an unusable file (format, missing columns), InvalidRowsError when a row is invalid
    and ``skip_invalid`` is False (or when no row is valid), registry errors when there is no model. Nothing
    is written unless scoring succeeds.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    out_kind = _file_format(output_path, OUTPUT_FORMATS, "output")
    in_kind = _file_format(input_path, INPUT_FORMATS, "input")
    if input_path.resolve() == output_path.resolve():
        raise InputError(f"the output would overwrite the input: {input_path}")
    result, metadata = load_model(models_dir, version)
    model_version = str(metadata["version"])
    input_columns = list(result.input_columns) or list(metadata.get("input_columns") or [])
    if not input_columns:
        raise ModelLoadError(f"model {model_version} records no input columns: retrain it")
    required = required_columns(input_columns)
    stamp = (scored_at or datetime.now(UTC)).isoformat(timespec="seconds")

    tally = _Tally()
    with _AtomicOutput(output_path, out_kind) as output, step(logger, f"scoring {input_path.name}") as progress:
        scorer = _BatchScorer(result, output, tally, model_version, stamp, score_rows)
        for chunk in iter_input(input_path, chunk_rows):
            if chunk.empty:
                continue
            valid, errors = validate_rows(_with_required(chunk, required, in_kind == "csv", input_path), required)
            tally.add_rows(chunk, errors)
            if errors and not skip_invalid and output.wanted:
                # All or nothing: no scoring past the first invalid row; the rest is still validated, for the listing.
                logger.info("invalid row(s) in %s: nothing will be written; validating the rest", input_path)
                output.discard()
                scorer.drop()
            if output.wanted and not valid.empty:
                scorer.add(valid)
            progress.advance(len(chunk))
        if output.wanted:
            scorer.flush()
        if tally.input_rows == 0:
            raise InputError(f"{input_path} has no customer rows")
        missing = [c for c in required if c not in tally.columns]
        if missing:
            raise InputError(f"{input_path}: {missing_columns_error(missing)}")
        extra = [c for c in tally.columns if c not in set(required)]
        _warn_ignored(extra)
        if tally.invalid_rows and (not skip_invalid or tally.scored_rows == 0):
            raise InvalidRowsError(tally.errors, tally.input_rows, tally.invalid_rows)
        output.commit()

    duplicated = tally.duplicated_ids()
    if duplicated:
        logger.warning("%d customer_id(s) appear more than once; every row is scored", duplicated)
    logger.debug("scored %d of %d row(s) from %s into %s", tally.scored_rows, tally.input_rows, input_path, output_path)
    return ScoreSummary(
        input_path=input_path,
        output_path=output_path,
        model_version=model_version,
        scored_at=stamp,
        input_rows=tally.input_rows,
        scored_rows=tally.scored_rows,
        errors=tally.errors,
        invalid_rows=tally.invalid_rows,
        ignored_columns=extra,
        segments=dict(tally.segments),
        scorer=result.scorer,
        scorer_reason=result.scorer_reason,
    )
