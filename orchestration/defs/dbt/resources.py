"""The dbt CLI resource Dagster runs dbt with (run folders: orchestration/dbt/runs.py)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from orchestration.dbt.launcher import dbt_launcher
from orchestration.dbt.project import DBT_PROJECT_DIR, TARGET_DIR_NAME, dbt_executable

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=TARGET_DIR_NAME)


class ComptoirDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without two fixed costs of each run (together ~3 s of a daily build).

    - `dbt --version` in a subprocess (~2 s): the dbt it runs is the one installed beside this interpreter
      (dbt_executable), so its version is the installed dbt-core package's.
    - a dbt adapter opened in this process (~1.5 s): dagster-dbt only uses it for the optional row-count
      and column metadata (`fetch_row_counts`, `fetch_column_metadata`), which this project does not ask for.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


def dbt_resource(launcher_dir: Path | None = None) -> DbtCliResource:
    """dagster-dbt's resource; with `launcher_dir`, dbt is started through the launcher there, so that it dies
    with the process that started it (launcher.py)."""
    executable = dbt_launcher(launcher_dir) if launcher_dir is not None else dbt_executable()
    return ComptoirDbtCliResource(project_dir=dbt_project, dbt_executable=str(executable))


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the dbt subprocess started inside the block, then restore them.

    DbtCliResource hands dbt a copy of os.environ when it starts the process; steps run one after
    another in one process (in_process_executor), so nothing else sees the change.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
