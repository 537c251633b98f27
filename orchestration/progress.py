"""What a build is doing, as it does it: each step's start and end (rows, elapsed) and a heartbeat on long steps.

A Dagster logger, so it sees exactly what the run's event log records: step starts and ends, materializations (their
row counts), dbt nodes as dagster-dbt reports them, and the INFO messages that assets write with context.log or that
`ml` and `orchestration` code writes with Python logging (the instance's managed Python loggers). The same lines are
therefore in Dagster's UI and on the terminal; only the heartbeat ("still running") is the terminal's own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from dagster import DagsterEventType, InitLoggerContext, LoggerDefinition, logger

HEARTBEAT_SECONDS = 10.0
_RUN_END = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
_ROW_KEYS = ("dagster/row_count", "rows_loaded", "rows")
_STEP_END = {DagsterEventType.STEP_SUCCESS: "done", DagsterEventType.STEP_FAILURE: "FAILED",
             DagsterEventType.STEP_SKIPPED: "skipped"}


@dataclass
class _Step:
    started: float
    rows: int | None = None
    nodes: int = 0  # dbt models and tests reported so far
    last_output: float = field(default_factory=time.monotonic)


def _rows(metadata: dict) -> int | None:
    for key in _ROW_KEYS:
        value = getattr(metadata.get(key), "value", metadata.get(key))
        if isinstance(value, int):
            return value
    return None


class ProgressPrinter(logging.Handler):
    """Formats a run's records as one line each; `write` receives finished lines (a terminal, a list in tests)."""

    def __init__(self, write: Callable[[str], None], heartbeat: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(level=logging.DEBUG)  # Dagster logs its step events at DEBUG
        self._write = write
        self._steps: dict[str, _Step] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = heartbeat
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="comptoir-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the heartbeat. Not Handler.close(): Dagster's instance re-runs logging.config, which closes every
        handler, at each step."""
        self._stop.set()
        # Joined, not left to die with the interpreter: a thread alive at exit keeps DuckDB's objects from being
        # freed, and its bindings then print "leaked instance" warnings.
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _say(self, step_key: str | None, text: str) -> None:
        if step_key and step_key in self._steps:
            self._steps[step_key].last_output = time.monotonic()
        self._write(text)

    def _beat(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self._lock:
                for key, step in self._steps.items():
                    if now - step.last_output >= self._heartbeat:
                        nodes = f", {step.nodes} dbt nodes done" if step.nodes else ""
                        self._say(key, f"  ... {key} running for {now - step.started:.0f}s{nodes}")

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None)
        if not meta:
            return
        step_key = meta.get("step_key")
        event = meta.get("dagster_event")
        with self._lock:
            if event is None:
                if step_key and record.levelno >= logging.INFO:
                    message = str(meta.get("orig_message", record.getMessage())).strip()
                    self._say(step_key, f"  {step_key}: {message.splitlines()[0] if message else ''}")
                return
            kind = event.event_type
            if kind in _RUN_END:
                self._stop.set()  # the heartbeat thread ends with the run
            elif kind == DagsterEventType.STEP_START and step_key:
                self._steps[step_key] = _Step(started=time.monotonic())
                self._say(step_key, f"> {step_key}")
            elif kind in _STEP_END and step_key:
                step = self._steps.pop(step_key, None)
                elapsed = f" in {time.monotonic() - step.started:.1f}s" if step else ""
                rows = f", {step.rows:,} rows" if step and step.rows is not None else ""
                self._write(f"< {step_key} {_STEP_END[kind]}{elapsed}{rows}")
            elif kind == DagsterEventType.ASSET_MATERIALIZATION and step_key in self._steps:
                step = self._steps[step_key]
                rows = _rows(dict(event.event_specific_data.materialization.metadata))
                if rows is not None and step_key != "dbt_models":
                    step.rows = (step.rows or 0) + rows
                step.nodes += step_key == "dbt_models"
            elif kind in (DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.ASSET_OBSERVATION) \
                    and step_key in self._steps:
                self._steps[step_key].nodes += 1


class TerminalProgress:
    """The progress logger of one `comptoir build`: `definition()` for the job, `close()` once the run is over."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._printers: list[ProgressPrinter] = []

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def definition(self) -> LoggerDefinition:
        @logger(description="Build progress: steps as they start and end, with rows and elapsed time.")
        def progress(init_context: InitLoggerContext) -> logging.Logger:
            handler = ProgressPrinter(self._write)
            self._printers.append(handler)
            handler.start()
            progress_log = logging.getLogger(f"comptoir.progress.{id(handler)}")
            progress_log.propagate = False
            progress_log.setLevel(logging.DEBUG)
            progress_log.addHandler(handler)
            return progress_log

        return progress

    def close(self) -> None:
        for printer in self._printers:
            logging.getLogger(f"comptoir.progress.{id(printer)}").removeHandler(printer)
            printer.stop()
        self._printers.clear()
