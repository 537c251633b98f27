"""The periods a business report covers (orchestration/reports/periods.py)."""

from __future__ import annotations

from datetime import date

import pytest

from orchestration.reports.periods import PeriodError, last_complete, parse


def test_an_iso_week_runs_monday_to_sunday_and_compares_with_the_week_before_and_a_year_before() -> None:
    week = parse("2025-W48")
    assert (week.kind, week.start, week.end, week.days) == ("weekly", date(2025, 11, 24), date(2025, 11, 30), 7)
    assert week.previous().label == "2025-W47"
    assert (week.last_year().label, week.last_year().start) == ("2024-W48", date(2024, 11, 25))
    assert parse("2026-W01").start == date(2025, 12, 29)  # ISO: the week of the year's first Thursday
    assert parse("2026-W01").previous().label == "2025-W52"


def test_a_month_compares_with_the_month_before_and_the_same_month_a_year_before() -> None:
    month = parse("2025-03")
    assert (month.kind, month.start, month.end) == ("monthly", date(2025, 3, 1), date(2025, 3, 31))
    assert month.previous().label == "2025-02" and month.previous().end == date(2025, 2, 28)
    assert parse("2025-01").previous().label == "2024-12"
    assert parse("2024-02").end == date(2024, 2, 29)
    assert parse("2025-02").last_year().end == date(2024, 2, 29)


@pytest.mark.parametrize(("as_of", "weekly", "monthly"), [
    (date(2025, 12, 31), "2025-W52", "2025-12"),  # a Wednesday, the month's last day
    (date(2025, 12, 28), "2025-W52", "2025-11"),  # a Sunday: its week is complete
    (date(2025, 12, 29), "2025-W52", "2025-11"),  # a Monday: last week
])
def test_the_last_complete_period_ends_on_or_before_the_data(as_of: date, weekly: str, monthly: str) -> None:
    assert last_complete("weekly", as_of).label == weekly
    assert last_complete("monthly", as_of).label == monthly
    assert last_complete("weekly", as_of).end <= as_of and last_complete("monthly", as_of).end <= as_of


@pytest.mark.parametrize(("label", "message"), [
    ("2025-13", "no month 13"), ("2025-W54", "no ISO week 54"), ("last week", "not a period"), ("2025-11-01", "not a")
])
def test_a_label_that_names_no_period_says_so(label: str, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        parse(label)
