"""The analytics engineer's loop: `comptoir dbt -- ...` and `comptoir build --changed` (make dev).

On a copy of the session's built sample and a copy of the dbt project (COMPTOIR_DBT_PROJECT_DIR), so the checkout
is never edited: one mart changed, then exactly that mart and its children are rebuilt, tested and published.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt.project import DBT_PROJECT_DIR_ENV
from orchestration.dbt.runs import RUN_RESULTS_FILE, runs_dir
from orchestration.publish import read_fact
from orchestration.settings import REPO_ROOT

pytestmark = pytest.mark.slow

EDITED = "mart_daily_sales"


def _comptoir(args: list[str], home: Path, project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMPTOIR_HOME": str(home), DBT_PROJECT_DIR_ENV: str(project)}
    env.pop("COMPTOIR_SEEDS_DIR", None)
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=900)


def _descendants(manifest: dict, node: str) -> set[str]:
    """`node` and every model downstream of it, by the manifest's child map."""
    found, todo = {node}, [node]
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child.startswith("model.") and child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.fixture
def workspace(built_sample: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a copy of the built sample's home, a copy of the dbt project)."""
    home = tmp_path / "home"
    shutil.copytree(built_sample.parent, home, symlinks=True)
    project = tmp_path / "dbt_project"
    shutil.copytree(REPO_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs"))
    return home, project


def test_changed_rebuilds_the_edited_mart_and_its_children_then_publishes(workspace: tuple[Path, Path]) -> None:
    home, project = workspace
    published = home / "published" / "comptoir.duckdb"
    before = read_fact(published)

    unchanged = _comptoir(["build", "--changed"], home, project)
    assert unchanged.returncode == 0, unchanged.stdout[-3000:] + unchanged.stderr[-3000:]
    assert "Nothing changed since the last build" in unchanged.stdout
    assert read_fact(published) == before  # nothing published

    model = next(project.glob(f"models/**/{EDITED}.sql"))
    *body, last = model.read_text(encoding="utf-8").rstrip().splitlines()
    assert re.fullmatch(r"select \* from \w+", last), f"{model} no longer ends with `select * from <cte>`"
    # An edit that keeps the model's contract (its columns are enforced): the same rows, another SQL.
    model.write_text("\n".join([*body, f"{last}\nwhere true"]) + "\n", encoding="utf-8")
    with duckdb.connect(str(published), read_only=True) as con:
        (refreshed_before,) = con.execute(f"select max(refreshed_at) from marts.{EDITED}").fetchone()
    state_manifest = json.loads(max(runs_dir(home / "comptoir.duckdb").glob("*/manifest.json"),
                                    key=lambda p: p.stat().st_mtime_ns).read_text(encoding="utf-8"))

    changed = _comptoir(["build", "--changed"], home, project)
    assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
    run = max(runs_dir(home / "comptoir.duckdb").glob("changed-*"), key=lambda p: p.stat().st_mtime_ns)
    results = json.loads((run / RUN_RESULTS_FILE).read_text(encoding="utf-8"))["results"]
    models = {r["unique_id"] for r in results if r["unique_id"].startswith("model.")}
    assert models == _descendants(state_manifest, f"model.comptoir.{EDITED}")
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert tests and {r["status"] for r in results} <= {"pass", "success"}
    # published: the dashboards' copy holds the rebuilt rows, and a new fact says so
    with duckdb.connect(str(published), read_only=True) as con:
        (refreshed_after,) = con.execute(f"select max(refreshed_at) from marts.{EDITED}").fetchone()
    assert refreshed_after > refreshed_before
    after = read_fact(published)
    assert after is not None and after != before
    assert "Published:" in changed.stdout and "The ML tables were not refreshed" in changed.stdout


def test_comptoir_dbt_runs_dbt_with_the_project_profile(workspace: tuple[Path, Path]) -> None:
    home, project = workspace
    listed = _comptoir(["dbt", "--", "ls", "--select", EDITED, "--output", "name"], home, project)
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    assert EDITED in listed.stdout.split()
    shown = _comptoir(["dbt", "--", "show", "--inline", f"select count(*) as n from {{{{ ref('{EDITED}') }}}}"],
                      home, project)
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    with duckdb.connect(str(home / "comptoir.duckdb"), read_only=True) as con:
        rows = con.execute(f"select count(*) from marts.{EDITED}").fetchone()[0]
    assert f"{rows}" in shown.stdout  # dbt read the build warehouse of this home
    assert (home / "dbt" / "dev").is_dir()  # its own target folder, not the project's
    missing = _comptoir(["dbt"], home, project)
    assert missing.returncode == 2 and "usage: comptoir dbt --" in missing.stderr
