"""The propensity and CLV code reads the dbt feature models only (DECISIONS.md "Features in dbt"): no relation of
schema staging, intermediate or marts is named in it, so every input has a feature model with lineage and tests."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The packages moved to the feature models so far, and the Dagster module of CLV.
FEATURES_ONLY = [REPO_ROOT / "ml/propensity", REPO_ROOT / "ml/clv", REPO_ROOT / "orchestration/defs/ml/clv.py"]
WAREHOUSE_RELATION = re.compile(r"\b(?:staging|intermediate|marts)\.[a-z_]+")


def test_no_staging_intermediate_or_marts_relation_is_named() -> None:
    files = [p for path in FEATURES_ONLY for p in ([path] if path.is_file() else sorted(path.rglob("*.py")))]
    assert len(files) > 5
    found = [f"{p.relative_to(REPO_ROOT)}:{n}: {m.group(0)}"
             for p in files for n, line in enumerate(p.read_text().splitlines(), 1)
             for m in WAREHOUSE_RELATION.finditer(line)]
    assert not found, found
