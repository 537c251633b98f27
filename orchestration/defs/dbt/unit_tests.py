"""Whether a build runs dbt's unit tests: yes unless they passed on exactly this project before.

Unit tests check the models' SQL on fixed inputs, so their result depends on the dbt project (models,
macros, tests, dbt_project.yml) and the installed dbt, never on the data. A daily incremental build of an
unchanged project therefore skips them (14 nodes, ~2 s of a build); a changed project, a full refresh and
a first build run them. The proof is a fingerprint file written into the run's dbt folder when they passed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from pathlib import Path

from orchestration.defs.dbt.project import project_inputs

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


def unit_tests_passed_on(fingerprint: str, runs: Path) -> bool:
    """True when the latest run whose unit tests all passed (it left UNIT_TESTED_FILE) had this fingerprint."""
    marks = sorted(runs.glob(f"*/{UNIT_TESTED_FILE}"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    return bool(marks) and marks[0].read_text(encoding="utf-8").strip() == fingerprint
