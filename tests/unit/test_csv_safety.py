"""ml/csv_safety.py: OWASP's rule against formula injection in the CSV files Comptoir writes, read back by Python's
csv module (what a spreadsheet would see cell by cell)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from ml.csv_safety import FORMULA_PREFIXES, neutralise_cells, neutralise_frame, write_csv

HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]


def _written(frame: pd.DataFrame) -> list[list[str]]:
    buffer = io.StringIO(newline="")
    write_csv(frame, buffer)
    return list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))


def test_every_formula_prefix_gets_a_quote_in_front() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}
    out = neutralise_cells(pd.Series(HOSTILE))
    assert out.tolist() == ["'" + value for value in HOSTILE]


def test_harmless_text_missing_values_and_numbers_are_left_alone() -> None:
    frame = pd.DataFrame({
        "text": ["C0001", "a=b", " =x", "x-1", None],  # only the first character counts (validation strips spaces)
        "score": [-2.5, 0.0, 12.3, 99.9, np.nan],  # numbers stay numbers, negative ones too
        "count": [-1, 0, 1, 2, 3],
    })
    out = neutralise_frame(frame)
    pd.testing.assert_frame_equal(out, frame)
    rows = _written(frame)
    assert [row[1] for row in rows[1:]] == ["-2.5", "0.0", "12.3", "99.9", ""]
    assert [row[2] for row in rows[1:]] == ["-1", "0", "1", "2", "3"]


def test_in_a_mixed_column_only_the_text_cells_change() -> None:
    mixed = pd.Series(["=1+1", -2, 3.5, "-2", None], dtype=object)
    assert neutralise_cells(mixed).tolist() == ["'=1+1", -2, 3.5, "'-2", None]


def test_written_csv_holds_the_neutralised_cells_each_in_its_own_row() -> None:
    frame = pd.DataFrame({"customer_id": [*HOSTILE, "a\r=1", "b\n@x"], "score": np.arange(8, dtype=float)})
    rows = _written(frame)
    assert rows[0] == ["customer_id", "score"]
    # A CR or LF inside a cell is quoted (CRLF rows), so no cell can begin a new row where a spreadsheet reads one.
    assert [row[0] for row in rows[1:]] == ["'" + value for value in HOSTILE] + ["a\r=1", "b\n@x"]
    assert [row[1] for row in rows[1:]] == [f"{n:.1f}" for n in range(8)]
