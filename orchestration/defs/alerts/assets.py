"""The alert rules as a Dagster asset with one asset check per rule: `pipeline/alerts` runs after the marts and the
ML tables and before the publish (so the published copy, and the Data-quality dashboard, hold pipeline.alerts).
A firing rule is a failed check of severity WARN: it shows in the UI and never stops the publish."""

from collections.abc import Iterable
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.alerts import check_alerts
from orchestration.alerts.rules import RULES
from orchestration.defs.publish.assets import PUBLISH_GROUP, upstream_keys
from orchestration.defs.resources import WarehouseResource

ALERTS_KEY = AssetKey(["pipeline", "alerts"])
MAX_LISTED = 20  # firings listed in a check's metadata; the table holds them all


def build_alerts_asset(upstream: Iterable[AssetsDefinition | AssetSpec]) -> AssetsDefinition:
    """pipeline/alerts, downstream of every asset in `upstream` (the marts and the ML tables it reads)."""

    @asset(
        key=ALERTS_KEY,
        deps=upstream_keys(upstream),
        group_name=PUBLISH_GROUP,
        kinds={"duckdb"},
        check_specs=[AssetCheckSpec(name, asset=ALERTS_KEY, description=f"alerts.yml rule {name}")
                     for name in RULES],
        description=(
            "The alert rules of alerts.yml checked on the finished warehouse: each firing recorded in "
            "pipeline.alerts (first and last seen, resolved) and, when new, notified by e-mail and webhook."
        ),
    )
    def pipeline_alerts(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.connect() as con:
            checked = check_alerts(con, datetime.now(UTC).replace(tzinfo=None))
        transition = checked.transition
        results = []
        for name in RULES:
            found = checked.firings.get(name)
            if found is None:
                results.append(AssetCheckResult(check_name=name, passed=True,
                                                metadata={"state": "disabled in alerts.yml"}))
                continue
            results.append(AssetCheckResult(
                check_name=name, passed=not found, severity=AssetCheckSeverity.WARN,
                metadata={"firing": len(found),
                          "subjects": MetadataValue.md("\n".join(f"- {f.message}" for f in found[:MAX_LISTED]))},
            ))
        summary = (f"{len(transition.opened)} new, {len(transition.still_open)} still open, "
                   f"{len(transition.resolved)} resolved")
        if checked.delivery.emails or checked.delivery.webhooks:
            summary += f"; notified by {checked.delivery.emails} e-mail(s), {checked.delivery.webhooks} webhook(s)"
        for error in checked.delivery.errors:
            context.log.warning(f"alert notification failed: {error}")
        return MaterializeResult(
            metadata={"summary": summary, "new": len(transition.opened),
                      "open": len(transition.opened) + len(transition.still_open),
                      "resolved": len(transition.resolved)},
            check_results=results,
        )

    return pipeline_alerts
