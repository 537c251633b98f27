"""Progress lines of long ML steps (ml/progress.py): start, periodic progress, end with count and time."""

from __future__ import annotations

import logging

import pytest

from ml.progress import step


def test_a_step_logs_its_start_progress_and_end(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("ml.test_progress")
    with (
        caplog.at_level(logging.INFO, logger="ml.test_progress"),
        step(logger, "scoring", 400, "orders", interval=0.0) as progress,
    ):
        for _ in range(4):
            progress.advance(100)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "scoring: started (400 orders)"
    assert messages[1].startswith("scoring: 100 of 400 orders (25 %), ")
    assert messages[4].startswith("scoring: 400 of 400 orders (100 %), ")
    assert messages[-1].startswith("scoring: done, 400 orders in ") and messages[-1].endswith(" s")
    assert len(messages) == 6


def test_progress_lines_are_rate_limited_and_a_step_without_total_still_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("ml.test_progress")
    with caplog.at_level(logging.INFO, logger="ml.test_progress"), step(logger, "features") as progress:
        for _ in range(1000):
            progress.advance()  # far quicker than the default 5 s between lines
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "features: started"
    assert len(messages) == 2 and messages[1].startswith("features: done, 1,000 rows in ")
