"""Progress lines for long ML steps: when a step starts, every few seconds while it runs, and when it ends.

At ten million order lines the ML assets run for minutes; a build that prints nothing for that long looks
hung. Every step logs ``<step>: started (<n> <unit>)`` and ``<step>: done, <n> <unit> in <s> s``; a loop over
chunks or series calls :meth:`Step.advance` and, at most every ``PROGRESS_INTERVAL_SECONDS``, logs
``<step>: <done> of <total> <unit> (<pct> %), <s> s``. Logging only: the orchestration wires the ``ml``
loggers to the terminal and to Dagster's run log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

PROGRESS_INTERVAL_SECONDS = 5.0


class Step:
    """One running step; see the module docstring."""

    def __init__(self, logger: logging.Logger, name: str, total: int | None, unit: str,
                 interval: float = PROGRESS_INTERVAL_SECONDS) -> None:
        self.logger = logger
        self.name = name
        self.total = total
        self.unit = unit
        self.done = 0
        self.interval = interval
        self.started = time.perf_counter()
        self._last_report = self.started

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done; log a progress line when the last one is ``interval`` seconds old."""
        self.done += n
        now = time.perf_counter()
        if now - self._last_report >= self.interval:
            self._last_report = now
            if self.total:
                self.logger.info("%s: %s of %s %s (%d %%), %.0f s", self.name, f"{self.done:,}", f"{self.total:,}",
                                 self.unit, 100 * self.done // self.total, now - self.started)
            else:
                self.logger.info("%s: %s %s, %.0f s", self.name, f"{self.done:,}", self.unit, now - self.started)


@contextmanager
def step(logger: logging.Logger, name: str, total: int | None = None, unit: str = "rows",
         interval: float = PROGRESS_INTERVAL_SECONDS) -> Iterator[Step]:
    """Log the start and the end (with the count and the elapsed time) of a step; yields it for ``advance``."""
    current = Step(logger, name, total, unit, interval)
    logger.info("%s: started%s", name, f" ({total:,} {unit})" if total is not None else "")
    yield current
    count = current.done or current.total
    logger.info("%s: done%s in %.1f s", name, f", {count:,} {unit}" if count is not None else "", current.elapsed)
