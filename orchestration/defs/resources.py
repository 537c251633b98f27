"""Resources shared by every domain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource

from orchestration.settings import duckdb_config


class WarehouseResource(ConfigurableResource):
    """The landing folder Comptoir reads and the DuckDB file it builds."""

    seeds_dir: str
    database: str
    # Fitted models and their metadata; by default `models/` beside the warehouse file (COMPTOIR_HOME).
    models_dir: str | None = None

    @property
    def seeds_path(self) -> Path:
        return Path(self.seeds_dir)

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir) if self.models_dir else Path(self.database).parent / "models"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.database, config=duckdb_config())
        try:
            yield con
        finally:
            con.close()
