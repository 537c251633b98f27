"""The code's layers only point down, and each constant is defined once.

Layers, bottom up: `ml` (pure Python: no Dagster, no orchestration) and the Dagster-free core of orchestration
(settings, contract, raw load, dbt helpers, publishing, the run log); then the Dagster definitions (`defs`) and the
Superset client side by side (neither imports the other: a publish is a fact the Superset follower reacts to);
the CLI on top.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from orchestration.settings import REPO_ROOT

CORE = ["orchestration/settings.py", "orchestration/contract.py", "orchestration/raw_load.py",
        "orchestration/publish.py", "orchestration/run_log.py", "orchestration/faults.py", "orchestration/dbt",
        "orchestration/personal.py", "orchestration/lake.py", "orchestration/reports", "orchestration/alerts"]
# (files, module prefixes they must not import)
RULES = [
    (["ml"], ("dagster", "dagster_dbt", "orchestration")),
    (CORE, ("dagster", "dagster_dbt", "orchestration.defs", "orchestration.cli", "orchestration.superset")),
    (["orchestration/defs"], ("orchestration.cli", "orchestration.superset", "orchestration.bench")),
    (["orchestration/superset"], ("orchestration.defs", "orchestration.cli", "dagster")),
    # the HTTP API reads what builds publish: the Dagster-free core and ml only
    (["api"], ("dagster", "dagster_dbt", "orchestration.defs", "orchestration.cli", "orchestration.superset",
               "orchestration.bench")),
]


def _files(*roots: str) -> list[Path]:
    paths: list[Path] = []
    for root in roots:
        path = REPO_ROOT / root
        if path.is_dir():
            paths += sorted(path.rglob("*.py"))
        elif path.exists():
            paths.append(path)
    return paths


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(("roots", "forbidden"), RULES, ids=[" ".join(r[0]) for r in RULES])
def test_no_import_points_up(roots: list[str], forbidden: tuple[str, ...]) -> None:
    wrong = {
        f"{path.relative_to(REPO_ROOT)}: {module}"
        for path in _files(*roots)
        for module in _imports(path)
        if any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden)
    }
    assert not wrong, sorted(wrong)


def _package(path: Path) -> str:
    return str(path.parent.relative_to(REPO_ROOT))


def test_each_constant_is_defined_once() -> None:
    """A module-level UPPER_CASE name bound to the same literal twice is one constant written twice: anywhere for a
    string (a file, table or tag name), within one package for a number (3 reasons of an anomaly and 3 of a lead
    score are two rules that happen to agree)."""
    seen: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for path in _files("orchestration", "ml", "api"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.BinOp):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.isupper():
                        seen[(target.id, ast.dump(node.value))].append(path)
    twice = {}
    for (name, value), paths in seen.items():
        is_string = "value='" in value or 'value="' in value
        packages = [_package(path) for path in paths]
        if len(paths) > 1 and (is_string or len(set(packages)) < len(packages)):
            twice[name] = [str(path.relative_to(REPO_ROOT)) for path in paths]
    assert not twice, twice
