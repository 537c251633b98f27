"""The declared dependencies are complete and agree: pyproject.toml, requirements/pipeline.in and its lock."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib

from orchestration.settings import REPO_ROOT

# Our own top-level packages, and the Superset-side scripts that run in the BI environment (requirements/bi.*).
LOCAL_PACKAGES = {"orchestration", "ml", "api", "tests"}
PIPELINE_CODE = ("orchestration", "ml", "api")
_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().split("[")[0]


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = _PIN.match(line.strip())
        if match:
            pins[_normalise(match.group(1))] = match.group(2)
    return pins


def _requirements_in() -> tuple[dict[str, str], dict[str, str]]:
    """Runtime and development pins of requirements/pipeline.in (development: after the `# development` line)."""
    text = (REPO_ROOT / "requirements" / "pipeline.in").read_text(encoding="utf-8")
    runtime, _, development = text.partition("# development")
    return _pins(runtime.splitlines()), _pins(development.splitlines())


def _pyproject() -> tuple[dict[str, str], dict[str, str]]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return _pins(project["dependencies"]), _pins(project["optional-dependencies"]["dev"])


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution name -> our files importing it, for every third-party module our pipeline code imports."""
    distributions = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for folder in PIPELINE_CODE:
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in LOCAL_PACKAGES or top == "__future__":
                        continue
                    for distribution in distributions.get(top, [f"<no distribution provides {top}>"]):
                        found.setdefault(_normalise(distribution), set()).add(str(path.relative_to(REPO_ROOT)))
    return found


def test_pyproject_declares_what_requirements_in_pins() -> None:
    assert _pyproject() == _requirements_in()


def test_every_pin_is_the_locked_version() -> None:
    lock = _pins((REPO_ROOT / "requirements" / "pipeline.lock").read_text(encoding="utf-8").splitlines())
    runtime, development = _requirements_in()
    assert {name: lock.get(name) for name in {**runtime, **development}} == {**runtime, **development}


def test_everything_our_code_imports_is_a_declared_dependency() -> None:
    runtime, _ = _pyproject()
    undeclared = {name: sorted(files) for name, files in _imported_distributions().items() if name not in runtime}
    assert not undeclared, f"imported but not in pyproject's dependencies: {undeclared}"
