"""Everything the verbs print about what they did: one place, so every summary reads alike."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from orchestration.dbt.results import RunSummary
from orchestration.run_log import QUARANTINE_MODEL, quarantine_counts
from orchestration.settings import Settings

LAKE_STEP = "lake__exports"  # the lake asset's step in a Dagster run (orchestration/defs/publish/assets.py)

if TYPE_CHECKING:  # only for the annotations: `comptoir score` must not import Superset's client, nor build the ML
    from api.keys import KeyRecord, KeyStore
    from ml.propensity.batch import ScoreSummary
    from orchestration.lake import TableExport
    from orchestration.reports import Report
    from orchestration.superset.sync import SyncReport


def generated(out: Path, rows: Mapping[str, int], seconds: float) -> None:
    print(f"Wrote {out.resolve()} in {seconds:.1f}s")
    for name, count in rows.items():
        print(f"  {name:<20} {count:>12,} rows")


def raw_load(settings: Settings, sources: list[tuple[str, dict[str, object]]]) -> None:
    """One line per raw source: (name, its materialization's metadata)."""
    print(f"\nLanding folder: {settings.seeds_dir}")
    print(f"{'source':<16}{'loaded':>12}{'rejected':>10}")
    for name, meta in sources:
        if not meta.get("file_present", True):
            print(f"{name:<16}{'(file absent: table left empty)':>22}")
            continue
        print(f"{name:<16}{meta.get('rows_loaded', 0):>12,}{meta.get('rows_rejected', 0):>10,}")
    print(f"\nWarehouse: {settings.warehouse_path}")
    print("Rejected lines: raw.load_rejects (source, source_file, line_number, raw_line, reason)")


def dbt_build(settings: Settings, summary: RunSummary | None, label: str = "dbt build", quarantine_line: bool = True
              ) -> None:
    print()
    if summary is None:
        print(f"{label}: no results (it did not run, or stopped before running any node)")
        return
    print(f"{label}: {summary.headline()} in {summary.elapsed_seconds:.1f}s")
    for result in summary.tests_warned:
        print(f"  warned: {result.describe()}")
    for result in summary.failed:
        print(f"  FAILED {result.resource_type}: {result.describe()}")
    if not quarantine_line:
        return
    quarantine = next(
        (r for r in summary.results if r.unique_id.startswith("model.") and r.name == QUARANTINE_MODEL), None
    )
    counts = (
        quarantine_counts(settings.warehouse_path) if quarantine is not None and quarantine.status == "success"
        else None
    )
    if counts is None:
        # Never print a previous build's table as if it were this one's.
        status = quarantine.status if quarantine is not None else "not run"
        print(f"Rows quarantined: staging.{QUARANTINE_MODEL} was not built in this run ({status})")
        return
    total = sum(count for _, _, count in counts)
    print(f"Rows quarantined: {total:,} (staging.{QUARANTINE_MODEL})")
    if counts:
        print(f"  {'source':<16}{'rule':<32}{'rows':>8}")
    for source, rule, count in counts:
        print(f"  {source:<16}{rule:<32}{count:>8,}")


def ml_tables(summaries: list[tuple[str, str]]) -> None:
    """One line per ML table, from the `summary` each ML asset puts on its materialization."""
    if summaries:
        print("Models (schema ml):")
        print("\n".join(f"  {key:<26}{summary}" for key, summary in summaries))


def published(summaries: list[str]) -> None:
    for summary in summaries:
        print(f"Published: {summary}")


def lake(summaries: list[str]) -> None:
    for summary in summaries:
        print(f"Lake: {summary}")


def alerts(summaries: list[str]) -> None:
    for summary in summaries:
        print(f"Alerts: {summary} (pipeline.alerts; rules in alerts.yml)")


def lake_failed(message: str) -> None:
    print(f"error: the lake export failed: {message}", file=sys.stderr)
    print("The warehouse was published; the lake keeps its previous export.", file=sys.stderr)


def exported(export: TableExport, include_pii: bool) -> None:
    span = ""
    if export.date_column:
        span = (f" ({export.date_column} from {export.date_from or 'the first day'} to "
                f"{export.date_to or 'the last day'})")
    print(f"Exported {export.table}: {export.rows:,} rows{span} to {export.path.resolve()} in {export.seconds:.1f}s")
    if export.left_out:
        print(f"  personal columns left out: {', '.join(export.left_out)} (--include-pii keeps them)")
    elif include_pii:
        print("  personal columns included (--include-pii): the file names people, keep it private")


def reported(report: Report) -> None:
    figures = report.figures
    print(f"Report {report.period.label} ({report.period.start} to {report.period.end}) written to "
          f"{report.folder.resolve()} in {report.seconds:.1f}s: report.html, report.pdf")
    for note in figures.notes:
        print(f"  note: {note}")
    if figures.moves_since:
        print(f"  RFM moves counted since the report {figures.moves_since}")


def built(seconds: float) -> None:
    print(f"Built in {seconds:.1f}s")


def build_failed(failures: list[tuple[str, str]], run_dir: Path) -> None:
    for step_key, message in failures:
        print(f"error in {step_key}: {message}", file=sys.stderr)
    if failures and all(step_key == LAKE_STEP for step_key, _ in failures):
        print("Build failed in the lake export: the warehouse was published, the lake keeps its previous export.",
              file=sys.stderr)
    elif any(step_key.startswith("raw__") for step_key, _ in failures):
        print("Build failed; a source that failed keeps its previous raw table.", file=sys.stderr)
    else:
        print(f"Build failed; dbt's output and artifacts: {run_dir}", file=sys.stderr)


def credentials(rows: list[tuple[str, str, str, str]]) -> None:
    """(role, user, password, where the password comes from) of each Superset account."""
    for role, username, password, source in rows:
        print(f"  {role + ':':<17}{username} / {password}   (from {source})")


def synced(report: SyncReport) -> None:
    titles = ", ".join(title for title, _ in report.dashboards)
    print(f"Synced {len(report.dashboards)} dashboard(s) ({titles}), {report.charts} charts, {report.datasets} "
          f"datasets in {report.seconds:.1f}s (data as of {report.as_of or 'unknown'})")
    if report.pruned:
        print(f"Removed what superset/assets/ no longer has: {', '.join(report.pruned)}")


def scored(summary: ScoreSummary, model_scorer: str) -> None:
    print(f"Scored {summary.scored_rows:,} of {summary.input_rows:,} customers with {summary.model_version}")
    if summary.scorer != model_scorer:
        # The saved training published the baseline: say so where the user reads the result.
        print(f"  Scores come from the RFM baseline, not the model: {summary.scorer_reason}")
    print("  " + ", ".join(f"{name} {summary.segments.get(name, 0):,}" for name in ("Hot", "Warm", "Cold")))
    print(f"Wrote {summary.output_path.resolve()}")


def row_errors(header: str, lines: list[str]) -> None:
    print(header, file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)


def api_serving(host: str, port: int, store: KeyStore) -> None:
    active = sum(1 for record in store.records().values() if record.active)
    print(f"API: http://{host}:{port}/v1   (OpenAPI: http://{host}:{port}/docs; {active} active key(s))")
    if not active:
        print("  no API key yet: comptoir api keys create --name <who> --scope aggregates")


def api_key_created(key: str, record: KeyRecord) -> None:
    print(f"Created key {record.key_id} ({record.name}; scopes: {', '.join(record.scopes)}). Shown once, keep it:")
    print(key)


def api_keys(records: list[KeyRecord]) -> None:
    if not records:
        print("No API keys: comptoir api keys create --name <who> --scope aggregates")
        return
    print(f"{'id':<10}{'name':<20}{'scopes':<30}{'created':<27}revoked")
    for record in records:
        print(f"{record.key_id:<10}{record.name[:19]:<20}{','.join(record.scopes):<30}{record.created_at:<27}"
              f"{record.revoked_at or '-'}")


def api_key_revoked(record: KeyRecord) -> None:
    print(f"Revoked key {record.key_id} ({record.name}) at {record.revoked_at}: it opens nothing from now on.")
