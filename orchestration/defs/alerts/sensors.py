"""A failed build is an alert too: the run-failure sensor (Dagster daemon runs: schedules, the landing sensor, the
UI) records it in pipeline.alerts and notifies it; `comptoir build`, which runs without the daemon, does the same
itself (orchestration/cli/build.py). The next build's pipeline/alerts resolves it."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb
from dagster import RunFailureSensorContext, SensorDefinition, run_failure_sensor

from orchestration.alerts import record_failed_build

FAILED_BUILD_SENSOR = "failed_build_alert"


def build_failed_build_sensor(warehouse_path: Path, job_names: list[str]) -> SensorDefinition:
    @run_failure_sensor(name=FAILED_BUILD_SENSOR, monitored_jobs=None,
                        description="Record and notify a failed build (alerts.yml rule failed_build).")
    def failed_build_alert(context: RunFailureSensorContext) -> None:
        run = context.dagster_run
        if run.job_name not in job_names:
            return
        message = context.failure_event.message or "the run failed"
        with duckdb.connect(str(warehouse_path)) as con:
            record_failed_build(con, run.run_id, run.job_name, message, datetime.now(UTC).replace(tzinfo=None))

    return failed_build_alert
