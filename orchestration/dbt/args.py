"""Pure builders for dbt command lines (no Dagster, no subprocess): easy to unit-test."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# A run tagged with this (value "true") rebuilds everything: `dbt build --full-refresh` (and the raw layer
# reloads every file). Set by the `warehouse_full_refresh` job and `comptoir build --full-refresh`.
FULL_REFRESH_TAG = "comptoir/full_refresh"
# dbt var: scope the data tests of incremental models to the rows refreshed since each test last passed
# (dbt_project/macros/tests/test_scope.sql). Incremental runs set it; full refreshes test every row.
SCOPE_TESTS_VAR = "scope_tests_to_refreshed_rows"
# The vars of every build, full refreshes included (the scope never applies to a --full-refresh, see
# test_scope.sql): the same vars on every run let dbt reuse its last parse instead of parsing the whole project.
BUILD_VARS = {SCOPE_TESTS_VAR: True}


def _selection(flag: str, value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    items = [item.strip() for item in items if item and item.strip()]
    return [flag, *items] if items else []


def vars_arg(vars: Mapping[str, Any] | None) -> list[str]:
    """`--vars` as JSON (a subset of YAML, which dbt reads); keys sorted so the line is stable."""
    if not vars:
        return []
    return ["--vars", json.dumps(dict(vars), sort_keys=True, default=str)]


def build_args(
    select: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    full_refresh: bool = False,
    vars: Mapping[str, Any] | None = None,
    fail_fast: bool = False,
) -> list[str]:
    """`dbt build` arguments (without the executable).

    Inside a Dagster asset leave `select`/`exclude` empty: dagster-dbt adds the selection of the
    assets and checks the run asked for.
    """
    args = ["build"]
    args += _selection("--select", select)
    args += _selection("--exclude", exclude)
    if full_refresh:
        args.append("--full-refresh")
    if fail_fast:
        args.append("--fail-fast")
    args += vars_arg(vars)
    return args


def parse_args(project_dir: Path, target_path: Path, profiles_dir: Path | None = None) -> list[str]:
    """`dbt parse` arguments writing manifest.json (and dbt.log) into `target_path`, with the builds' vars: dbt
    re-parses the whole project when the vars differ from the parse it could reuse (partial_parse.msgpack)."""
    return [
        "parse",
        "--quiet",
        "--no-use-colors",
        "--project-dir", str(project_dir),
        "--profiles-dir", str(profiles_dir or project_dir),
        "--target-path", str(target_path),
        "--log-path", str(target_path),
        *vars_arg(BUILD_VARS),
    ]


def is_full_refresh(tags: Mapping[str, str] | None) -> bool:
    """Whether a run's tags ask for a full refresh."""
    return str((tags or {}).get(FULL_REFRESH_TAG, "")).strip().lower() in {"true", "1", "yes"}


def warehouse_build_args(full_refresh: bool = False, unit_tests: bool = True) -> list[str]:
    """The warehouse's `dbt build`: incremental with tests scoped to refreshed rows, or a full refresh testing every
    row; without dbt's unit tests when they already passed on this very project (see project_state.py)."""
    if full_refresh:
        return build_args(full_refresh=True, vars=BUILD_VARS)
    args = build_args(vars=BUILD_VARS)
    return args if unit_tests else [*args, "--exclude-resource-type", "unit_test"]


def changed_build_args(state: Path) -> list[str]:
    """`comptoir build --changed`: the models changed since the build whose manifest is in `state`, and their
    children, rebuilt in full (an incremental model's rows were made by the old SQL) and tested, unit tests included;
    unselected parents are read from that build (`--defer`)."""
    args = build_args(select="state:modified+", full_refresh=True, vars=BUILD_VARS)
    return [*args, "--state", str(state), "--defer"]
