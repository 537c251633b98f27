"""The dbt project Dagster runs, and a manifest.json that is never stale.

Nobody runs `dbt parse` by hand: when the definitions are imported, `ensure_manifest` re-parses
if `target/manifest.json` is missing or older than any project file (models, macros, tests,
dbt_project.yml, ...). A fresh manifest costs a directory walk; a stale one a `dbt parse`
(~10 s). Several processes may import the definitions at once (CLI, `dagster dev`, pytest):
they take a lock, re-check, parse into a private folder and rename the manifest into place, so
no reader ever sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from orchestration.dbt.args import parse_args
from orchestration.settings import REPO_ROOT

# The dbt project: the checkout's, unless COMPTOIR_DBT_PROJECT_DIR names a copy (a fork of the models, or a test
# that edits models without touching the checkout).
DBT_PROJECT_DIR_ENV = "COMPTOIR_DBT_PROJECT_DIR"
DBT_PROJECT_DIR = Path(os.environ.get(DBT_PROJECT_DIR_ENV) or REPO_ROOT / "dbt_project").resolve()
TARGET_DIR_NAME = "target"
DBT_MANIFEST_FILE = "manifest.json"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
_LOCK_FILE = ".comptoir-parse.lock"

# dbt_project.yml keys listing folders whose files end up in the manifest, with dbt's defaults.
_PATH_KEYS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "seed-paths": ["seeds"],
    "snapshot-paths": ["snapshots"],
    "analysis-paths": ["analyses"],
    "docs-paths": [],
}
_PROJECT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml")


class DbtManifestError(RuntimeError):
    """`dbt parse` failed: the dbt project has an error to fix before anything can run."""


def dbt_executable() -> Path:
    """The dbt installed beside the running interpreter (same virtual environment)."""
    name = "dbt.exe" if sys.platform == "win32" else "dbt"
    # No resolve(): the venv's bin/python is a symlink to the base interpreter.
    return Path(sys.executable).parent / name


def project_inputs(project_dir: Path) -> list[Path]:
    """Every file and folder whose change can change the manifest."""
    config_path = project_dir / "dbt_project.yml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    config = config or {}
    inputs = [project_dir / name for name in _PROJECT_FILES if (project_dir / name).exists()]
    for key, default in _PATH_KEYS.items():
        for folder in config.get(key, default) or []:
            root = project_dir / folder
            if not root.is_dir():
                continue
            # Folders too: deleting or renaming a file only changes its folder's mtime.
            inputs.append(root)
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                inputs += [Path(dirpath) / d for d in dirnames]
                inputs += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
    return inputs


def manifest_is_stale(project_dir: Path, manifest_path: Path) -> bool:
    """True when the manifest is missing or not newer than every project input."""
    try:
        built = manifest_path.stat().st_mtime_ns
    except FileNotFoundError:
        return True
    for path in project_inputs(project_dir):
        with contextlib.suppress(FileNotFoundError):  # removed while we walk
            # >=: file systems with coarse timestamps give an edit and the manifest the same mtime.
            if path.stat().st_mtime_ns >= built:
                return True
    return False


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: the temp folder + rename still keeps readers safe
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def parse_project(project_dir: Path, target_dir: Path, executable: Path | None = None) -> Path:
    """Run `dbt parse` into a private folder, then move manifest.json into `target_dir` atomically."""
    executable = executable or dbt_executable()
    if not executable.exists():
        raise DbtManifestError(f"dbt is not installed beside {sys.executable} (looked for {executable})")
    target_dir.mkdir(parents=True, exist_ok=True)
    # Stamp the manifest with the time parsing *started*: a file edited during the parse is
    # newer than the manifest and triggers the next parse.
    started_ns = time.time_ns()
    with tempfile.TemporaryDirectory(prefix=".parse-", dir=target_dir) as scratch:
        scratch_dir = Path(scratch)
        previous = target_dir / PARTIAL_PARSE_FILE
        if previous.exists():  # let dbt re-parse only what changed
            shutil.copy2(previous, scratch_dir / PARTIAL_PARSE_FILE)
        env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        completed = subprocess.run(
            [str(executable), *parse_args(project_dir, scratch_dir)],
            cwd=project_dir, env=env, capture_output=True, text=True, check=False,
        )
        manifest = scratch_dir / DBT_MANIFEST_FILE
        if completed.returncode != 0 or not manifest.exists():
            output = _tail(completed.stdout + "\n" + completed.stderr)
            raise DbtManifestError(
                f"`dbt parse` failed in {project_dir} (exit {completed.returncode}); "
                f"fix the dbt project and reload.\n{output}"
            )
        os.utime(manifest, ns=(started_ns, started_ns))
        if (scratch_dir / PARTIAL_PARSE_FILE).exists():
            os.replace(scratch_dir / PARTIAL_PARSE_FILE, target_dir / PARTIAL_PARSE_FILE)
        os.replace(manifest, target_dir / DBT_MANIFEST_FILE)
    return target_dir / DBT_MANIFEST_FILE


def ensure_manifest(project_dir: Path = DBT_PROJECT_DIR, target_dir: Path | None = None) -> Path:
    """Return a manifest.json no older than the project, parsing only when needed."""
    target_dir = target_dir or project_dir / TARGET_DIR_NAME
    manifest = target_dir / DBT_MANIFEST_FILE
    if not manifest_is_stale(project_dir, manifest):
        return manifest
    target_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target_dir / _LOCK_FILE):
        # Another process may have parsed while we waited for the lock.
        if manifest_is_stale(project_dir, manifest):
            parse_project(project_dir, target_dir)
    return manifest
