"""How dbt nodes appear in Dagster: keys by schema, groups by layer, dbt's descriptions.

- source `shop.orders` (schema raw)   -> `raw/orders`, the raw-load asset that writes it
- model `stg_shop__order_lines`       -> `staging/stg_shop__order_lines` (its schema)
- model `fct_orders`                  -> `marts/fct_orders`
Groups follow the folder under models/ (staging, intermediate, marts); data-quality models
(folders `dq` or `quality`) form the `quality` group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

RAW_GROUP = "raw"
QUALITY_GROUP = "quality"
_QUALITY_FOLDERS = {"dq", "quality"}


class ComptoirDbtTranslator(DagsterDbtTranslator):
    def __init__(self, settings: DagsterDbtTranslatorSettings | None = None) -> None:
        super().__init__(
            settings
            # Every dbt test on a model becomes an asset check of that model's asset.
            or DagsterDbtTranslatorSettings(enable_asset_checks=True)
        )

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        name = dbt_resource_props["name"]
        if dbt_resource_props["resource_type"] == "source":
            # The raw-load assets own schema raw: `raw/<table>`.
            return AssetKey([dbt_resource_props.get("schema") or RAW_GROUP, name])
        if dbt_resource_props.get("version") is not None:
            name = f"{name}_v{dbt_resource_props['version']}"
        schema = dbt_resource_props.get("schema") or _layer(dbt_resource_props) or "dbt"
        return AssetKey([schema, name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_GROUP
        folders = set(dbt_resource_props.get("fqn", [])[1:-1])
        if folders & _QUALITY_FOLDERS:
            return QUALITY_GROUP
        return _layer(dbt_resource_props) or dbt_resource_props["resource_type"]

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = (dbt_resource_props.get("description") or "").strip()
        if description:
            return description
        kind = dbt_resource_props["resource_type"]
        return f"dbt {kind} `{dbt_resource_props['name']}` (no description in its YAML yet)."


def _layer(dbt_resource_props: Mapping[str, Any]) -> str | None:
    """The first folder under models/ (staging, intermediate, marts), from the node's fqn."""
    fqn = dbt_resource_props.get("fqn") or []
    # fqn = [package, folder, ..., name]; a model at the models/ root has no folder.
    return fqn[1] if len(fqn) > 2 else None
