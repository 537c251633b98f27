"""What the last builds were built from, so a build knows whether the dbt project changed since.

A fingerprint covers every project file (models, macros, tests, dbt_project.yml and its vars) and the
installed dbt packages. Two marks are left in a run's dbt folder: BUILT_PROJECT_FILE after a successful
build, UNIT_TESTED_FILE after one whose unit tests ran and passed. The dbt step then rebuilds in full when
the project changed since the last successful build (rows an incremental model already holds were made by
the old SQL), and skips the unit tests when they already passed on this very project: they check the
models' SQL on fixed inputs, so their result never depends on the data (DECISIONS.md: Unit tests run
when the dbt project changed; A changed dbt project rebuilds in full).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

from orchestration.dbt.project import project_inputs

BUILT_PROJECT_FILE = "built_project.sha256"
UNIT_TESTED_FILE = "unit_tested_project.sha256"
_PACKAGES = ("dbt-core", "dbt-duckdb")


def project_fingerprint(project_dir: Path) -> str:
    """sha256 over every project file (path and bytes) and the installed dbt packages' versions."""
    digest = hashlib.sha256()
    for package in _PACKAGES:
        digest.update(f"{package}=={importlib.metadata.version(package)}\n".encode())
    for path in sorted(p for p in project_inputs(project_dir) if p.is_file()):
        digest.update(str(path.relative_to(project_dir)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def latest_mark(runs: Path, mark: str) -> str | None:
    """The fingerprint in the newest run folder holding `mark`, or None."""
    marks = sorted(runs.glob(f"*/{mark}"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return marks[0].read_text(encoding="utf-8").strip() if marks else None


def unit_tests_passed_on(fingerprint: str, runs: Path) -> bool:
    """True when the latest run whose unit tests all passed had this fingerprint."""
    return latest_mark(runs, UNIT_TESTED_FILE) == fingerprint


def project_changed_since_last_build(fingerprint: str, runs: Path) -> bool:
    """True when a successful build is on record and was made from another project."""
    built = latest_mark(runs, BUILT_PROJECT_FILE)
    return built is not None and built != fingerprint
