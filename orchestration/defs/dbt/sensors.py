"""Start the warehouse job when a landing file is new, changed or removed.

The cursor is the JSON of {file name: [size, mtime_ns]} for the contract's files (README.md and
manifest.json do not count). A run is requested when that fingerprint differs from the cursor,
once the files have been quiet for `quiet_seconds` (a copy in progress is not loaded half-way)
and every required file is there. On its very first tick the sensor compares the files with the
sha256 the last raw load recorded, so turning it on after `comptoir build` does not rebuild.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from orchestration.contract import SOURCES, Source

LANDING_SENSOR_NAME = "landing_files_sensor"
MINIMUM_INTERVAL_SECONDS = 60
QUIET_SECONDS = 30

Fingerprint = dict[str, list[int]]


def landing_fingerprint(folder: Path, sources: Iterable[Source] = SOURCES) -> Fingerprint:
    """{file name: [size, mtime_ns]} of the contract files present in `folder`."""
    fingerprint: Fingerprint = {}
    for source in sources:
        try:
            stat = (folder / source.file_name).stat()
        except FileNotFoundError:
            continue
        fingerprint[source.file_name] = [stat.st_size, stat.st_mtime_ns]
    return fingerprint


def changed_files(previous: Mapping[str, list[int]] | None, current: Mapping[str, list[int]]) -> list[str]:
    """Files added, changed or removed since `previous` (everything when there is no previous)."""
    previous = previous or {}
    return sorted(name for name in set(previous) | set(current) if previous.get(name) != current.get(name))


def encode_cursor(fingerprint: Mapping[str, list[int]]) -> str:
    return json.dumps(fingerprint, sort_keys=True)


def decode_cursor(cursor: str | None) -> Fingerprint | None:
    if not cursor:
        return None
    try:
        value = json.loads(cursor)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _already_loaded(context: SensorEvaluationContext, folder: Path) -> bool:
    """True when every contract file matches what the last raw load recorded (sha256 / absent)."""
    for source in SOURCES:
        event = context.instance.get_latest_materialization_event(AssetKey(["raw", source.name]))
        materialization = event.asset_materialization if event else None
        if materialization is None:
            return False
        metadata = {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        path = folder / source.file_name
        if str(metadata.get("file", "")) != str(path):
            return False
        if path.exists():
            if metadata.get("sha256") != _sha256(path):
                return False
        elif metadata.get("file_present", True):
            return False
    return True


def build_landing_sensor(
    seeds_dir: Path,
    job_name: str,
    minimum_interval_seconds: int = MINIMUM_INTERVAL_SECONDS,
    quiet_seconds: float = QUIET_SECONDS,
) -> SensorDefinition:
    folder = Path(seeds_dir)
    required = [s.file_name for s in SOURCES if s.required]

    @sensor(
        name=LANDING_SENSOR_NAME,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=DefaultSensorStatus.STOPPED,
        description=f"Rebuild the warehouse when a file in {folder} is added, changed or removed.",
    )
    def landing_files_sensor(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        if not folder.is_dir():
            return SkipReason(f"landing folder {folder} does not exist")
        current = landing_fingerprint(folder)
        missing = [name for name in required if name not in current]
        if missing:
            return SkipReason(f"waiting for required file(s) in {folder}: {', '.join(missing)}")
        newest_ns = max(mtime for _, mtime in current.values())
        if time.time_ns() - newest_ns < quiet_seconds * 1e9:
            return SkipReason(f"landing files changed less than {quiet_seconds:g}s ago; waiting for the copy to end")

        previous = decode_cursor(context.cursor)
        if previous is None and _already_loaded(context, folder):
            context.update_cursor(encode_cursor(current))
            return SkipReason("the landing files are the ones the last raw load read")
        changed = changed_files(previous, current)
        if not changed:
            return SkipReason("no landing file changed")
        context.update_cursor(encode_cursor(current))
        return RunRequest(
            tags={"comptoir/trigger": LANDING_SENSOR_NAME, "comptoir/changed_files": ",".join(changed)},
        )

    return landing_files_sensor
