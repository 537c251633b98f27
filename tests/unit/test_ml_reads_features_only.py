"""The ML code reads the dbt feature models only (DECISIONS.md "Features in dbt"): no relation of schema staging,
intermediate or marts is named in ml/ or in the Dagster ML assets, so every ML input has a dbt model with lineage,
docs and tests, and a renamed staging column fails a dbt test rather than a model at run time."""

from __future__ import annotations

import re

from orchestration.settings import REPO_ROOT

ML_CODE = [REPO_ROOT / "ml", REPO_ROOT / "orchestration/defs/ml"]
WAREHOUSE_RELATION = re.compile(r"\b(?:staging|intermediate|marts)\.[a-z_]+")


def test_no_staging_intermediate_or_marts_relation_is_named() -> None:
    files = [p for path in ML_CODE for p in sorted(path.rglob("*.py"))]
    assert len(files) > 20
    found = [f"{p.relative_to(REPO_ROOT)}:{n}: {m.group(0)}"
             for p in files for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             for m in WAREHOUSE_RELATION.finditer(line)]
    assert not found, found


def test_the_ml_assets_depend_on_feature_models() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    ml_keys = [key for key in graph.get_all_asset_keys() if key.path[0] == "ml"]
    assert ml_keys
    for key in ml_keys:
        parents = {parent.path[0] for parent in graph.get(key).parent_keys}
        assert parents <= {"features", "ml"}, f"{key.to_user_string()} reads {sorted(parents)}"
