"""Where Comptoir reads its landing files and writes its warehouse.

Both folders come from the environment so a user can point Comptoir at their own
exports; relative paths resolve against the current directory, never a fixed path.
"""

from __future__ import annotations

import logging
import os
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# The checkout: dbt_project/, superset/, seeds/ and docs/ are found from here.
REPO_ROOT = Path(__file__).resolve().parents[1]
# Where `comptoir serve` (and `make run`) serve the Dagster UI, Superset and the API unless told otherwise.
DAGSTER_PORT = 3000
SUPERSET_PORT = 8088
API_PORT = 8000
# Schedules (daily refresh, weekly re-fit) are written in this time zone.
SCHEDULE_TIMEZONE = "UTC"
SEEDS_ENV = "COMPTOIR_SEEDS_DIR"
HOME_ENV = "COMPTOIR_HOME"
DEFAULT_SEEDS_DIR = "seeds"
DEFAULT_HOME = "warehouse"
WAREHOUSE_FILE = "comptoir.duckdb"
PUBLISHED_DIR = "published"
LAKE_DIR = "lake"
REPORTS_DIR = "reports"
# DuckDB's memory budget for the pipeline's connections (dbt's too, through profiles.yml); past it DuckDB spills
# to `<warehouse>.tmp/` beside the file. DECISIONS.md "Memory limit".
MEMORY_LIMIT_ENV = "COMPTOIR_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"
# What Comptoir writes (warehouse files, models, Superset's files and passwords, logs) can hold personal data or
# secrets: owner only. DECISIONS.md "Private by default".
PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private() -> int:
    """Owner-only modes for everything this process, and every process it starts, creates (0700 folders, 0600
    files): the process's umask, inherited by dbt, Superset and the Dagster UI. Returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """``path`` and its missing parents created 0700 whatever the umask (``mkdir(parents=True, mode=...)`` gives
    the parents the umask's mode)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode passes through the umask
    return path


def write_private_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` at once (a reader sees the old content or the new, never half), owner only.

    The temporary file is unique to this write, so two processes writing the same file never share one.
    """
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.chmod(temporary, PRIVATE_FILE_MODE)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def private_home(home: Path) -> Path:
    """COMPTOIR_HOME created 0700, or made 0700 when an earlier version left it open to other users: closing the
    folder closes everything in it, files written before this version included."""
    private_dir(home)
    mode = stat.S_IMODE(home.stat().st_mode)
    if mode & 0o077 and home.stat().st_uid == os.getuid():
        os.chmod(home, PRIVATE_DIR_MODE)
        log.warning("%s was open to other users (mode %o): now %o, owner only", home, mode, PRIVATE_DIR_MODE)
    return home


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
    def lake_path(self) -> Path:
        """The business tables as Parquet, rewritten after each publish (orchestration/lake.py)."""
        return self.home / LAKE_DIR

    @property
    def reports_path(self) -> Path:
        """The business reports, one folder per period (orchestration/reports/)."""
        return self.home / REPORTS_DIR

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def models_dir(self) -> Path:
        """Fitted ML models and their metadata (ml/propensity/registry.py)."""
        return self.home / "models"
