r"""Text cells that a spreadsheet would run as a formula, neutralised before they go into a CSV file.

A CSV file that Comptoir writes is often opened in a spreadsheet, and a cell such as ``=HYPERLINK("http://x","y")``
taken from the data (a customer id, a name) would be evaluated there: formula injection ("CSV injection").

The rule is OWASP's: a **text** cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
single quote ``'`` in front, so that a spreadsheet shows the text instead of evaluating it. Numbers stay numbers:
a numeric column is written as numbers (a negative number is data, not a formula), and only text columns (object
or string dtype) are looked at; in a mixed object column only the ``str`` values are.

CSV only. JSON and JSON lines outputs keep every value unchanged: JSON is not a spreadsheet format, and a program
that reads it gets the exact value. The price of the rule is that a program reading the CSV back sees the quote
(``'=HYPERLINK(...)``): it must strip it, or read the JSON output instead.

Line breaks: :func:`write_csv` ends rows with CRLF (RFC 4180's line break). With it, Python's csv writer quotes
every cell that holds a CR or an LF; with pandas' default ``"\n"`` it writes a lone CR unquoted, and a spreadsheet
that starts a new row there would read whatever follows (``a\r=1`` gives a cell ``=1``) as a cell of its own,
around the rule above.

Every CSV export should write through :func:`write_csv` (or pass its frame through :func:`neutralise_frame` and
write with ``lineterminator=LINE_TERMINATOR``).
"""

from __future__ import annotations

from typing import TextIO

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
LINE_TERMINATOR = "\r\n"


def _is_text_column(column: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)


def formula_like(column: pd.Series) -> pd.Series:
    """True for the text cells of ``column`` that a spreadsheet would treat as a formula (False elsewhere)."""
    if not _is_text_column(column):
        return pd.Series(False, index=column.index)
    # na=False: missing values and non-text cells of a mixed column are never formulas.
    return column.str.startswith(FORMULA_PREFIXES, na=False).astype(bool)


def neutralise_cells(column: pd.Series) -> pd.Series:
    """``column`` with a ``'`` put in front of every formula-like text cell (a copy when something changes)."""
    flags = formula_like(column).to_numpy()
    if not flags.any():
        return column
    out = column.astype(object)  # a copy, as object: a mixed column's other cells (numbers) stay as they are
    out[flags] = QUOTE + column[flags].astype(str)
    return out


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text column passed through :func:`neutralise_cells`; numeric columns untouched."""
    text_columns = [name for name in frame.columns if _is_text_column(frame[name])]
    if not text_columns:
        return frame
    out = frame.copy(deep=False)
    for name in text_columns:
        out[name] = neutralise_cells(frame[name])
    return out


def write_csv(frame: pd.DataFrame, handle: TextIO, *, header: bool = True) -> None:
    """Append ``frame`` (no index) to an open text file as safe CSV: neutralised cells, CRLF rows (see above).

    Open ``handle`` with ``newline=""``, so that the CRLF is written as is.
    """
    neutralise_frame(frame).to_csv(handle, index=False, header=header, lineterminator=LINE_TERMINATOR)
