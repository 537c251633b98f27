"""Summarise dbt's run_results.json: what was built, which tests passed, failed or warned.

Pure functions over the parsed JSON, shared by the dbt asset (to fail the step naming what
failed) and `comptoir build` (to print the summary).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# dbt statuses: models/seeds/snapshots end in success|error|skipped; data and unit tests in
# pass|fail|warn|error|skipped.
_FAILED = {"error", "fail", "runtime error"}


@dataclass(frozen=True)
class NodeResult:
    unique_id: str
    resource_type: str  # model, test, unit_test, seed, snapshot, ...
    name: str
    status: str
    failures: int | None
    message: str | None
    execution_seconds: float = 0.0
    started_at: str | None = None  # ISO, UTC: compiling began
    completed_at: str | None = None  # ISO, UTC: executing ended

    @property
    def failed(self) -> bool:
        return self.status in _FAILED

    def describe(self) -> str:
        """`name` plus why, e.g. `not_null_x_id (3 failing rows)` or `fct_orders: <error message>`."""
        if self.resource_type in {"test", "unit_test"} and self.status in {"fail", "warn"} and self.failures:
            plural = "s" if self.failures != 1 else ""
            return f"{self.name} ({self.failures:,} failing row{plural})"
        if self.failed and self.message:
            cause = error_cause(self.message)
            return f"{self.name}: {cause}" if cause else self.name
        return self.name


_ERROR_HEADER = re.compile(r"^(?P<kind>(?:Runtime|Compilation|Database|Parsing) Error) in \S+ \S+")
MAX_CAUSE_CHARS = 300


def error_cause(message: str) -> str:
    """dbt's error message as one line that names the cause: `Runtime Error in model x (path)` is only a header,
    the database's own message is on the line after it (e.g. `Out of Range Error: Overflow in multiplication`)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    header = _ERROR_HEADER.match(lines[0])
    cause = f"{header['kind']}: {lines[1]}" if header and len(lines) > 1 else lines[0]
    return cause if len(cause) <= MAX_CAUSE_CHARS else cause[: MAX_CAUSE_CHARS - 3] + "..."


@dataclass(frozen=True)
class RunSummary:
    results: tuple[NodeResult, ...] = field(default_factory=tuple)
    elapsed_seconds: float = 0.0

    def _of(self, types: set[str], statuses: set[str]) -> list[NodeResult]:
        return [r for r in self.results if r.resource_type in types and r.status in statuses]

    @property
    def models_built(self) -> int:
        return len(self._of({"model"}, {"success"}))

    @property
    def models_failed(self) -> list[NodeResult]:
        return self._of({"model", "seed", "snapshot"}, _FAILED)

    @property
    def skipped(self) -> list[NodeResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def tests_passed(self) -> int:
        return len(self._of({"test", "unit_test"}, {"pass"}))

    @property
    def tests_failed(self) -> list[NodeResult]:
        return self._of({"test", "unit_test"}, _FAILED)

    @property
    def tests_warned(self) -> list[NodeResult]:
        return self._of({"test", "unit_test"}, {"warn"})

    @property
    def failed(self) -> list[NodeResult]:
        """Every node that failed (models, tests, seeds, ...), in run order."""
        return [r for r in self.results if r.failed]

    @property
    def success(self) -> bool:
        return not self.failed

    def headline(self) -> str:
        return (
            f"{self.models_built:,} models built, {self.tests_passed:,} tests passed, "
            f"{len(self.tests_failed):,} failed, {len(self.tests_warned):,} warned"
            + (f", {len(self.skipped):,} nodes skipped" if self.skipped else "")
        )

    def failure_message(self) -> str:
        """One line per failed node, for a step failure or the CLI's stderr."""
        lines = [f"dbt build failed: {len(self.failed)} node(s) failed"]
        lines += [f"  {r.resource_type} {r.describe()}" for r in self.failed]
        if self.skipped:
            lines.append(f"  ({len(self.skipped)} downstream node(s) skipped)")
        return "\n".join(lines)


def _node_name(parts: list[str]) -> str:
    """`test.pkg.not_null_x_id.5c7e1ba` -> `not_null_x_id`; `unit_test.pkg.model.case` -> `model.case`."""
    if len(parts) < 3:
        return ".".join(parts)
    if parts[0] == "unit_test" and len(parts) > 3:
        return f"{parts[2]}.{parts[3]}"
    return parts[2]


def summarise_run_results(run_results: Mapping[str, Any]) -> RunSummary:
    results = []
    for result in run_results.get("results", []):
        unique_id = str(result.get("unique_id", ""))
        parts = unique_id.split(".")
        failures = result.get("failures")
        timing = {step.get("name"): step for step in result.get("timing") or []}
        compiled, executed = timing.get("compile") or {}, timing.get("execute") or {}
        results.append(
            NodeResult(
                unique_id=unique_id,
                resource_type=parts[0],
                name=_node_name(parts),
                status=str(result.get("status", "")).lower(),
                failures=int(failures) if isinstance(failures, int | float) else None,
                message=result.get("message"),
                execution_seconds=float(result.get("execution_time") or 0.0),
                started_at=compiled.get("started_at") or executed.get("started_at"),
                completed_at=executed.get("completed_at") or compiled.get("completed_at"),
            )
        )
    return RunSummary(results=tuple(results), elapsed_seconds=float(run_results.get("elapsed_time") or 0.0))
