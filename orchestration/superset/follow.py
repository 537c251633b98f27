"""Keep a Superset in step with the published warehouse: re-sync the dashboards after every publish.

A build only publishes (orchestration/publish.py leaves `published.json` beside the file); the follower, run
by `comptoir serve` beside its Superset or by `comptoir superset follow` next to a Superset elsewhere
(docker-compose.yml), notices a new fact and syncs, so the dashboards' default date ranges end at the new
as-of date. A sync that fails is logged and tried again at the next publish or after RETRY_SECONDS: the
published build is good whatever the dashboards' state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from orchestration.publish import PublishedFact, read_fact

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0
RETRY_SECONDS = 60.0


class PublishFollower:
    """Calls `sync` once for each new publish of `published` (each distinct `published.json`)."""

    def __init__(self, published: Path, sync: Callable[[], object], synced: PublishedFact | None = None,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.published = published
        self.sync = sync
        self.synced = synced  # the publish the dashboards already show
        self.poll_seconds = poll_seconds
        self.syncs = 0
        self._failed_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> bool:
        """Sync if a publish happened since the last sync; True when it synced."""
        fact = read_fact(self.published)
        if fact is None or fact == self.synced:
            return False
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_SECONDS:
            return False
        try:
            self.sync()
        except Exception as error:  # a dashboard problem must not stop the follower
            self._failed_at = time.monotonic()
            log.warning("could not re-sync the dashboards after the publish of %s: %s", fact.published_at, error)
            return False
        self._failed_at = None
        self.synced = fact
        self.syncs += 1
        log.info("re-synced the dashboards after the publish of %s (build %s)", fact.published_at,
                 fact.run_id or "published by hand")
        return True

    def run(self) -> None:
        """Check every `poll_seconds` until stopped."""
        while not self._stop.wait(self.poll_seconds):
            self.check()

    def start(self) -> PublishFollower:
        self._thread = threading.Thread(target=self.run, name="publish-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
