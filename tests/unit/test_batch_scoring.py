"""Batch scoring from files (ml/propensity/batch.py): reading CSV/JSON/JSON lines, row-level validation with the
row numbers a user sees, and score_file with a model saved by the registry. Data: the synthetic warehouse of
test_propensity_model.py, exported the way a user would (pandas to_csv / to_json)."""

from __future__ import annotations

import csv
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.propensity.batch import (
    InputError,
    InvalidRowsError,
    RowError,
    format_row_errors,
    iter_input,
    read_input,
    score_file,
    validate,
)
from ml.propensity.features import build_features
from ml.propensity.model import N_REASONS, TrainingResult, score_customers, train_and_evaluate
from ml.propensity.registry import save_model
from tests.unit.test_propensity_model import AS_OF, _make_synthetic_con

# Builds feature warehouses with dbt and trains models: minutes, not seconds (README: Contributing).
pytestmark = pytest.mark.slow

SCORED_AT = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
FIRST_DATA_ROW = {"csv": 2, "json": 1, "jsonl": 1}  # CSV: the header is line 1; JSON: record 1; JSON lines: line 1
ROW_LABEL = {"csv": "line", "json": "record", "jsonl": "line"}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _make_synthetic_con(tmp_path_factory.mktemp("shop"), propensity_max_training_cutoffs=2)


@pytest.fixture(scope="module")
def trained(con: duckdb.DuckDBPyConnection) -> TrainingResult:
    return train_and_evaluate(con, seed=0)


@pytest.fixture(scope="module")
def features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Scoring-time features (cutoff the day after the as-of date), as build_features returns them."""
    return build_features(con, [AS_OF + timedelta(days=1)])


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory, trained: TrainingResult) -> Path:
    folder = tmp_path_factory.mktemp("models")
    save_model(trained, folder, trained_at=SCORED_AT)
    return folder


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    # Not DataFrame.to_json: it keeps 10 significant digits by default (15 at most), which changes averages.
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """Export ``frame`` as a user would: CSV with pandas, JSON / JSON lines with Python's json (exact floats)."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".json":
        path.write_text(json.dumps(_records(frame), default=str))
    else:
        path.write_text("".join(json.dumps(r, default=str) + "\n" for r in _records(frame)))
    return path


def _planted(features: pd.DataFrame, position: int, values: dict[str, object]) -> pd.DataFrame:
    frame = features.astype(object)
    for column, value in values.items():
        frame.loc[frame.index[position], column] = value
    return frame


# --------------------------------------------------------------------------------------------
# Valid files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_an_exported_feature_file_validates_and_scores_like_the_warehouse_frame(
    fmt: str, tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    frame = read_input(_write(features, tmp_path / f"customers.{fmt}"))
    assert frame.index.name == ROW_LABEL[fmt]
    assert frame.index[0] == FIRST_DATA_ROW[fmt]
    valid, errors = validate(frame, trained.input_columns)
    assert errors == []
    assert len(valid) == len(features)
    assert valid["customer_id"].tolist() == features["customer_id"].tolist()
    pd.testing.assert_frame_equal(
        score_customers(trained, valid.reset_index(drop=True)), score_customers(trained, features)
    )


def test_extra_columns_are_ignored_with_a_warning(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult, caplog: pytest.LogCaptureFixture
) -> None:
    frame = read_input(_write(features.assign(crm_note="vip"), tmp_path / "customers.csv"))
    with caplog.at_level(logging.WARNING, logger="ml.propensity.batch"):
        _, errors = validate(frame, trained.input_columns)
    assert errors == []
    extra = [*sorted(set(features.columns) - {"customer_id", *trained.input_columns}), "crm_note"]
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "ignoring" in warning
    assert all(column in warning for column in extra)


def test_empty_nullable_fields_mean_never_as_in_build_features(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    nullable = ["days_since_last_order", "days_since_last_contact", "average_order_value", "open_rate_90d"]
    position = 5
    planted = _planted(features, position, {**dict.fromkeys(nullable, None), "country_code": ""})
    valid, errors = validate(read_input(_write(planted, tmp_path / "customers.csv")), trained.input_columns)
    assert errors == []
    row = valid.iloc[position]
    assert row[nullable].isna().all()
    assert pd.isna(row["country_code"])
    expected = features.copy()
    expected[nullable] = expected[nullable].astype("float64")
    expected.loc[expected.index[position], nullable] = np.nan
    expected.loc[expected.index[position], "country_code"] = None
    pd.testing.assert_frame_equal(
        score_customers(trained, valid.reset_index(drop=True)), score_customers(trained, expected)
    )


# --------------------------------------------------------------------------------------------
# Invalid rows
# --------------------------------------------------------------------------------------------

BAD_ROWS = {
    "negative count": ({"orders_30d": -1}, "orders_30d", "is negative"),
    "negative money": ({"revenue_90d": -12.5}, "revenue_90d", "is negative"),
    "negative days": ({"days_since_last_order": -3}, "days_since_last_order", "is negative"),
    "not a number": ({"revenue_30d": "abc"}, "revenue_30d", "'abc' is not a number"),
    "not finite": ({"revenue_365d": "inf"}, "revenue_365d", "not a finite number"),
    "fractional count": ({"web_visits_30d": 2.5}, "web_visits_30d", "not a whole number"),
    "required value empty": ({"orders_365d": None}, "orders_365d", "missing value"),
    "open rate above 1": ({"open_rate_90d": 1.5}, "open_rate_90d", "outside [0, 1]"),
    "share below 0": ({"share_books": -0.1}, "share_books", "outside [0, 1]"),
    "opened more than sent": (
        {"emails_sent_90d": 1, "emails_opened_90d": 2, "emails_clicked_90d": 0},
        "emails_opened_90d",
        "2 is greater than emails_sent_90d (1)",
    ),
    "clicked more than opened": (
        {"emails_sent_90d": 3, "emails_opened_90d": 1, "emails_clicked_90d": 2},
        "emails_clicked_90d",
        "2 is greater than emails_opened_90d (1)",
    ),
    "customer_id empty": ({"customer_id": ""}, "customer_id", "missing value"),
}


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
@pytest.mark.parametrize("kind", list(BAD_ROWS))
def test_each_kind_of_bad_value_is_reported_on_its_row(
    kind: str, fmt: str, tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    values, column, message = BAD_ROWS[kind]
    position = 7
    customer_id = features["customer_id"].iloc[position]
    planted = _planted(features, position, values)
    valid, errors = validate(read_input(_write(planted, tmp_path / f"customers.{fmt}")), trained.input_columns)

    assert len(errors) == 1, errors
    (error,) = errors
    assert (error.row_label, error.row) == (ROW_LABEL[fmt], FIRST_DATA_ROW[fmt] + position)
    assert error.column == column
    assert message in error.message
    assert error.customer_id == (None if column == "customer_id" else customer_id)
    assert len(valid) == len(features) - 1
    assert customer_id not in set(valid["customer_id"])


def test_json_booleans_and_nested_values_are_not_numbers(tmp_path: Path, trained: TrainingResult,
                                                         features: pd.DataFrame) -> None:
    records = _records(features)
    records[0]["orders_30d"] = True
    records[1]["revenue_30d"] = {"amount": 3}
    (tmp_path / "customers.json").write_text(json.dumps(records, default=str))
    _, errors = validate(read_input(tmp_path / "customers.json"), trained.input_columns)
    assert [(e.row, e.column) for e in errors] == [(1, "orders_30d"), (2, "revenue_30d")]
    assert all("is not a number" in e.message for e in errors)


def test_several_problems_in_one_row_are_all_listed_in_column_order(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    planted = _planted(features, 0, {"orders_30d": "x", "tenure_days": -1, "share_books": 2})
    _, errors = validate(read_input(_write(planted, tmp_path / "customers.csv")), trained.input_columns)
    assert [e.column for e in errors] == ["orders_30d", "tenure_days", "share_books"]
    assert {e.row for e in errors} == {2}
    (line,) = format_row_errors(errors)
    assert line.startswith(f"line 2 (customer_id {features['customer_id'].iloc[0]}): orders_30d: ")
    assert line.count("; ") == 2


def test_csv_line_numbers_count_blank_lines(tmp_path: Path, features: pd.DataFrame, trained: TrainingResult) -> None:
    planted = _planted(features, 4, {"orders_90d": -2})
    lines = planted.to_csv(index=False).splitlines()
    lines.insert(3, "")  # after the header and two data rows
    (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n")
    frame = read_input(tmp_path / "customers.csv")
    assert len(frame) == len(features)
    _, errors = validate(frame, trained.input_columns)
    assert [(e.row, e.column) for e in errors] == [(4 + 2 + 1, "orders_90d")]


def test_missing_columns_are_one_file_level_error_naming_all_of_them(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    frame = read_input(_write(features.drop(columns=["orders_30d", "country_code"]), tmp_path / "customers.csv"))
    with pytest.raises(InputError, match="missing required column") as caught:
        validate(frame, trained.input_columns)
    assert "orders_30d" in str(caught.value) and "country_code" in str(caught.value)


def test_the_error_listing_stops_after_twenty_rows(features: pd.DataFrame, trained: TrainingResult,
                                                   tmp_path: Path) -> None:
    n_bad = 25
    planted = features.astype(object)
    planted.loc[planted.index[:n_bad], "orders_30d"] = -1
    _, errors = validate(read_input(_write(planted, tmp_path / "customers.csv")), trained.input_columns)
    assert len(errors) == n_bad
    listing = format_row_errors(errors)
    assert len(listing) == 21
    assert listing[0].startswith("line 2 ")
    assert listing[-1] == f"... and {n_bad - 20} more"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("customers.txt", "customer_id\nC1\n", "unsupported input file type '.txt'"),
        ("customers.csv", "", "is empty"),
        ("customers.csv", "customer_id,orders_30d\n", "no customer rows"),
        ("customers.csv", 'customer_id,orders_30d\nC1,1\nC2,"2\n', "cannot parse"),
        ("customers.json", "[{", "not valid JSON"),
        ("customers.json", '{"customer_id": "C1"}', "JSON array of objects"),
        ("customers.json", '[{"customer_id": "C1"}, 3]', "not at record 2"),
        ("customers.json", "[]", "no customer rows"),
        ("customers.jsonl", '{"customer_id": "C1"}\n\n{"customer_id": \n', "line 3 is not valid JSON"),
        ("customers.jsonl", '{"customer_id": "C1"}\n[1]\n', "not at line 2"),
    ],
)
def test_unusable_files_get_a_clear_error(name: str, content: str, message: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=re.escape(message)):
        read_input(tmp_path / name)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"input file not found: .*nowhere\.csv"):
        read_input(tmp_path / "nowhere.csv")


# --------------------------------------------------------------------------------------------
# score_file
# --------------------------------------------------------------------------------------------


def test_score_file_writes_csv_with_reason_columns(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult, models_dir: Path
) -> None:
    source = _write(features, tmp_path / "customers.json")
    summary = score_file(source, tmp_path / "scores.csv", models_dir, scored_at=SCORED_AT)
    out = pd.read_csv(tmp_path / "scores.csv", dtype={"customer_id": str})
    reasons = [f"reason_{i + 1}" for i in range(N_REASONS)]
    assert list(out.columns) == [
        "customer_id", "score", "segment", "action", *reasons, "scorer", "model_version", "scored_at"
    ]
    expected = score_customers(trained, features)
    assert out["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_array_equal(out["score"].to_numpy(), expected["score"].to_numpy())
    assert out["segment"].tolist() == expected["segment"].tolist()
    assert out[reasons].to_numpy().tolist() == expected["reasons"].tolist()
    assert set(out["model_version"]) == {summary.model_version}
    assert set(out["scored_at"]) == {SCORED_AT.isoformat()}
    assert (summary.input_rows, summary.scored_rows, summary.invalid_rows) == (len(features), len(features), 0)
    assert sum(summary.segments.values()) == len(features)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_score_file_writes_json_with_a_reason_list(
    fmt: str, tmp_path: Path, features: pd.DataFrame, trained: TrainingResult, models_dir: Path
) -> None:
    score_file(_write(features, tmp_path / "customers.csv"), tmp_path / f"scores.{fmt}", models_dir)
    text = (tmp_path / f"scores.{fmt}").read_text()
    records = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    expected = score_customers(trained, features)
    assert [r["customer_id"] for r in records] == expected["customer_id"].tolist()
    assert [r["score"] for r in records] == expected["score"].tolist()
    assert [r["reasons"] for r in records] == expected["reasons"].tolist()


def test_invalid_rows_fail_the_file_unless_skipped(tmp_path: Path, features: pd.DataFrame, models_dir: Path) -> None:
    planted = _planted(_planted(features, 3, {"orders_30d": -1}), 9, {"emails_opened_90d": 99})
    bad_ids = set(features["customer_id"].iloc[[3, 9]])
    source = _write(planted, tmp_path / "customers.csv")
    output = tmp_path / "scores.csv"

    with pytest.raises(InvalidRowsError) as caught:
        score_file(source, output, models_dir)
    assert {e.row for e in caught.value.errors} == {3 + 2, 9 + 2}
    assert caught.value.invalid_rows == 2
    assert not output.exists()
    assert not list(tmp_path.glob(".*"))  # no temporary output left behind

    summary = score_file(source, output, models_dir, skip_invalid=True)
    out = pd.read_csv(output, dtype={"customer_id": str})
    assert len(out) == len(features) - 2
    assert bad_ids.isdisjoint(out["customer_id"])
    assert (summary.scored_rows, summary.invalid_rows) == (len(features) - 2, 2)
    assert {e.customer_id for e in summary.errors} == bad_ids


def test_no_valid_row_is_an_error_even_when_skipping(tmp_path: Path, features: pd.DataFrame,
                                                     models_dir: Path) -> None:
    source = _write(features.head(3).assign(orders_30d=-1), tmp_path / "customers.csv")
    with pytest.raises(InvalidRowsError):
        score_file(source, tmp_path / "scores.csv", models_dir, skip_invalid=True)
    assert not (tmp_path / "scores.csv").exists()


def test_unsupported_output_type_is_rejected_before_reading(tmp_path: Path, models_dir: Path) -> None:
    with pytest.raises(InputError, match=r"unsupported output file type '\.xlsx'"):
        score_file(tmp_path / "missing.csv", tmp_path / "scores.xlsx", models_dir)


def test_row_error_describes_itself() -> None:
    error = RowError(row=5, row_label="line", customer_id="C1", column="orders_30d", message="'-1' is negative")
    assert error.describe() == "line 5 (customer_id C1): orders_30d: '-1' is negative"


def test_score_file_scores_with_the_baseline_when_the_training_published_it(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    """A saved training whose model lost to the RFM baseline scores files with the baseline, and says so."""
    import dataclasses

    from ml.propensity.baseline import BASELINE_SCORER

    lost = dataclasses.replace(trained, scorer=BASELINE_SCORER, scorer_reason="the model does not beat it")
    models = tmp_path / "models"
    save_model(lost, models, trained_at=SCORED_AT)
    source = _write(features, tmp_path / "customers.jsonl")
    summary = score_file(source, tmp_path / "scores.jsonl", models, scored_at=SCORED_AT)
    assert (summary.scorer, summary.scorer_reason) == (BASELINE_SCORER, "the model does not beat it")
    out = pd.read_json(tmp_path / "scores.jsonl", lines=True, dtype={"customer_id": str})
    assert set(out["scorer"]) == {BASELINE_SCORER}
    expected = np.round(trained.baseline.predict_proba(features) * 100, 1)
    np.testing.assert_array_equal(out["score"].to_numpy(), expected)


# --------------------------------------------------------------------------------------------
# Streaming: chunk by chunk, the same output and the same messages as the whole file at once
# --------------------------------------------------------------------------------------------

WHOLE = 10**9  # a chunk size no test file reaches: the whole file in one chunk
CHUNK = 97  # several chunks, the last one shorter


@pytest.mark.parametrize("source", ["csv", "json", "jsonl"])
@pytest.mark.parametrize("target", ["csv", "json", "jsonl"])
def test_scoring_in_small_chunks_writes_the_bytes_of_one_chunk(
    source: str, target: str, tmp_path: Path, features: pd.DataFrame, models_dir: Path
) -> None:
    planted = _planted(_planted(features, 3, {"orders_30d": -1}), len(features) - 2, {"revenue_30d": "x"})
    path = _write(planted, tmp_path / f"customers.{source}")
    summaries = {}
    for chunk_rows, score_rows in ((CHUNK, 150), (WHOLE, WHOLE)):  # scored 150 valid rows at a time (~2 chunks)
        output = tmp_path / f"scores-{chunk_rows}.{target}"
        summaries[chunk_rows] = score_file(path, output, models_dir, skip_invalid=True, scored_at=SCORED_AT,
                                           chunk_rows=chunk_rows, score_rows=score_rows)
    assert (tmp_path / f"scores-{CHUNK}.{target}").read_bytes() == (tmp_path / f"scores-{WHOLE}.{target}").read_bytes()
    chunked, whole = summaries[CHUNK], summaries[WHOLE]
    assert chunked.errors == whole.errors and len(chunked.errors) == 2
    assert (chunked.input_rows, chunked.scored_rows, chunked.invalid_rows, chunked.segments) == (
        whole.input_rows, whole.scored_rows, whole.invalid_rows, whole.segments)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_json_values_keep_their_text_whatever_else_their_chunk_holds(
    fmt: str, tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    """A whole number stays '-1' in the message, also in a chunk where another row's value is empty."""
    column = "days_since_last_order"
    planted = _planted(_planted(features.head(10), 0, {column: None}), 1, {column: -1})
    path = _write(planted, tmp_path / f"customers.{fmt}")
    for chunk_rows in (2, WHOLE):
        chunks = [c for c in iter_input(path, chunk_rows) if not c.empty]
        _, errors = validate(pd.concat(chunks), trained.input_columns)
        assert [e.message for e in errors] == ["'-1' is negative"]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_numbers_are_quoted_alike_in_a_chunk_of_numbers_and_in_a_chunk_with_text(
    fmt: str, tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    """A chunk whose column holds JSON numbers only is parsed as numbers, one with text through the text: the
    messages quote the value the same way."""
    values = {0: -0.5, 1: 1e-07, 3: -0.5, 4: "abc", 5: 12345678.125}
    planted = features.head(6).astype(object)
    for position, value in values.items():
        planted.loc[planted.index[position], "revenue_30d"] = value
    path = _write(planted.assign(share_books=[0.5, 1.5, 0.25, 1.5, 0.0, 2]), tmp_path / f"customers.{fmt}")
    for chunk_rows in (3, WHOLE):
        _, errors = validate(pd.concat(list(iter_input(path, chunk_rows))), trained.input_columns)
        assert [(e.row, e.column, e.message) for e in errors] == [
            (1, "revenue_30d", "'-0.5' is negative"),
            (2, "share_books", "'1.5' is outside [0, 1]"),
            (4, "revenue_30d", "'-0.5' is negative"),
            (4, "share_books", "'1.5' is outside [0, 1]"),
            (5, "revenue_30d", "'abc' is not a number"),
            (6, "share_books", "'2.0' is outside [0, 1]"),  # the file holds 2.0
        ], chunk_rows


def test_csv_line_numbers_run_on_across_chunks_and_blank_lines(
    tmp_path: Path, features: pd.DataFrame, trained: TrainingResult
) -> None:
    planted = _planted(_planted(features, 4, {"orders_90d": -2}), 30, {"orders_90d": -3})
    lines = planted.to_csv(index=False).splitlines()
    lines[3:3] = ["", ","]  # a blank line and an empty record after the header and two data rows
    (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n")
    chunks = list(iter_input(tmp_path / "customers.csv", chunk_rows=3))
    assert len(chunks) > 10
    frame = pd.concat(chunks)
    assert frame.index.name == "line" and len(frame) == len(features)
    _, errors = validate(frame, trained.input_columns)
    assert [(e.row, e.column) for e in errors] == [(4 + 2 + 2, "orders_90d"), (30 + 2 + 2, "orders_90d")]


def test_an_invalid_row_in_a_later_chunk_writes_nothing_and_every_invalid_row_is_listed(
    tmp_path: Path, features: pd.DataFrame, models_dir: Path
) -> None:
    last = len(features) - 1
    planted = _planted(_planted(features, 1, {"tenure_days": -1}), last, {"share_books": 2})
    source = _write(planted, tmp_path / "customers.jsonl")
    output = tmp_path / "out" / "scores.json"
    with pytest.raises(InvalidRowsError) as caught:
        score_file(source, output, models_dir, chunk_rows=5)
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "tenure_days"), (last + 1, "share_books")]
    assert (caught.value.invalid_rows, caught.value.total_rows) == (2, len(features))
    assert not output.parent.exists() or not list(output.parent.iterdir())  # no output, no temporary file


@pytest.mark.parametrize(
    ("name", "tail", "message"),
    [
        ("customers.csv", '\nC9,"1\n', "cannot parse"),
        ("customers.jsonl", "\n{oops}\n", "is not valid JSON"),
        ("customers.json", None, "is not valid JSON"),
    ],
)
def test_a_malformed_end_of_file_after_good_chunks_leaves_no_output(
    name: str, tail: str | None, message: str, tmp_path: Path, features: pd.DataFrame, models_dir: Path
) -> None:
    source = _write(features, tmp_path / name)
    text = source.read_text()
    source.write_text(text.rstrip()[:-1] if tail is None else text.rstrip("\n") + tail)  # a JSON array cut short
    with pytest.raises(InputError, match=message):
        score_file(source, tmp_path / "scores.csv", models_dir, chunk_rows=CHUNK)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_a_json_array_with_a_bad_record_names_it_and_counts_records(tmp_path: Path, features: pd.DataFrame) -> None:
    records = _records(features.head(12))
    records[9] = [1, 2]
    (tmp_path / "customers.json").write_text(json.dumps(records, default=str))
    with pytest.raises(InputError, match=r"every record must be a JSON object; not at record 10$"):
        list(iter_input(tmp_path / "customers.json", chunk_rows=4))


def test_errors_kept_are_bounded_but_every_invalid_row_is_counted(tmp_path: Path, features: pd.DataFrame,
                                                                  models_dir: Path) -> None:
    from ml.propensity.batch import MAX_KEPT_ROWS

    n_rows = MAX_KEPT_ROWS + 150
    many = features.iloc[np.arange(n_rows) % len(features)].assign(orders_30d=-1)
    source = _write(many, tmp_path / "customers.csv")
    with pytest.raises(InvalidRowsError) as caught:
        score_file(source, tmp_path / "scores.csv", models_dir, skip_invalid=True, chunk_rows=400)
    error = caught.value
    assert (error.invalid_rows, error.total_rows) == (n_rows, n_rows)
    assert [e.row for e in error.errors] == list(range(2, MAX_KEPT_ROWS + 2))
    listing = format_row_errors(error.errors, invalid_rows=error.invalid_rows)
    assert listing[-1] == f"... and {n_rows - 20:,} more"


def test_duplicate_customer_ids_in_different_chunks_are_noticed(
    tmp_path: Path, features: pd.DataFrame, models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    twice = pd.concat([features.head(6), features.head(6)])
    source = _write(twice, tmp_path / "customers.csv")
    with caplog.at_level(logging.WARNING, logger="ml.propensity.batch"):
        score_file(source, tmp_path / "scores.csv", models_dir, chunk_rows=4)
    assert "6 customer_id(s) appear more than once" in caplog.text


# --------------------------------------------------------------------------------------------
# Formula injection
# --------------------------------------------------------------------------------------------

HOSTILE_IDS = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)"]


@pytest.mark.parametrize("source", ["csv", "json"])
def test_formula_like_customer_ids_are_neutralised_in_csv_and_kept_in_json(
    source: str, tmp_path: Path, features: pd.DataFrame, models_dir: Path
) -> None:
    """Leading tabs and CRs never reach the output (validation strips the id): ml/csv_safety.py's tests cover them.
    A line break inside an id (a CR from JSON; CSV input files quote only LFs) stays in its quoted cell."""
    ids = [*HOSTILE_IDS, "a\r=1" if source == "json" else "a\n=1"]
    frame = features.head(len(ids)).assign(customer_id=ids)
    path = _write(frame, tmp_path / f"customers.{source}")
    score_file(path, tmp_path / "scores.csv", models_dir)
    score_file(path, tmp_path / "scores.json", models_dir)
    score_file(path, tmp_path / "scores.jsonl", models_dir)

    with (tmp_path / "scores.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["customer_id"] for row in rows] == ["'" + i for i in HOSTILE_IDS] + ids[-1:]
    assert all(float(row["score"]) >= 0 for row in rows)  # numbers are written as numbers
    assert [r["customer_id"] for r in json.loads((tmp_path / "scores.json").read_text())] == ids
    jsonl = (tmp_path / "scores.jsonl").read_text().splitlines()
    assert [json.loads(line)["customer_id"] for line in jsonl] == ids
