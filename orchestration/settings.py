"""Where Comptoir reads its landing files and writes its warehouse.

Both folders come from the environment so a user can point Comptoir at their own
exports; relative paths resolve against the current directory, never a fixed path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SEEDS_ENV = "COMPTOIR_SEEDS_DIR"
HOME_ENV = "COMPTOIR_HOME"
DEFAULT_SEEDS_DIR = "seeds"
DEFAULT_HOME = "warehouse"
WAREHOUSE_FILE = "comptoir.duckdb"
PUBLISHED_DIR = "published"
# DuckDB's memory budget for the pipeline's connections (dbt's too, through profiles.yml); past it DuckDB spills
# to `<warehouse>.tmp/` beside the file. DECISIONS.md "Memory limit".
MEMORY_LIMIT_ENV = "COMPTOIR_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"


def duckdb_config() -> dict[str, str]:
    """Settings for every read-write connection the pipeline opens on the warehouse."""
    return {"memory_limit": os.environ.get(MEMORY_LIMIT_ENV) or DEFAULT_MEMORY_LIMIT}


@dataclass(frozen=True)
class Settings:
    seeds_dir: Path
    home: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            seeds_dir=Path(os.environ.get(SEEDS_ENV) or DEFAULT_SEEDS_DIR).resolve(),
            home=Path(os.environ.get(HOME_ENV) or DEFAULT_HOME).resolve(),
        )

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file the pipeline builds into."""
        return self.home / WAREHOUSE_FILE

    @property
    def published_path(self) -> Path:
        """The finished copy of the warehouse that dashboards read (published after a successful build)."""
        return self.home / PUBLISHED_DIR / WAREHOUSE_FILE

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def models_dir(self) -> Path:
        """Fitted ML models and their metadata (ml/propensity/registry.py)."""
        return self.home / "models"
