"""The periods a business report covers: an ISO week (`2025-W48`, Monday to Sunday) or a calendar month
(`2025-11`), with the period before it and the same period a year earlier, for the comparisons."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Kind = Literal["weekly", "monthly"]
KINDS: tuple[Kind, ...] = ("weekly", "monthly")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A period label that is neither YYYY-Www nor YYYY-MM, or names no real week or month."""


@dataclass(frozen=True)
class Period:
    kind: Kind
    label: str  # 2025-W48 or 2025-11: the report's folder name
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        return week(self.start - timedelta(days=7)) if self.kind == "weekly" else month(self.start - timedelta(days=1))

    def last_year(self) -> Period:
        """The same ISO week (the week holding the same weekday 52 weeks before) or month, a year earlier."""
        if self.kind == "weekly":
            return week(self.start - timedelta(weeks=52))
        return month(self.start.replace(year=self.start.year - 1))


def week(day: date) -> Period:
    """The ISO week holding `day`."""
    year, number, weekday = day.isocalendar()
    start = day - timedelta(days=weekday - 1)
    return Period("weekly", f"{year}-W{number:02d}", start, start + timedelta(days=6))


def month(day: date) -> Period:
    """The calendar month holding `day`."""
    start = day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return Period("monthly", f"{start:%Y-%m}", start, following - timedelta(days=1))


def parse(label: str) -> Period:
    text = label.strip()
    if found := _WEEK.match(text):
        try:
            return week(date.fromisocalendar(int(found[1]), int(found[2]), 1))
        except ValueError:
            raise PeriodError(f"{label!r}: {found[1]} has no ISO week {found[2]}") from None
    if found := _MONTH.match(text):
        if not 1 <= int(found[2]) <= 12:
            raise PeriodError(f"{label!r}: there is no month {found[2]}")
        return month(date(int(found[1]), int(found[2]), 1))
    raise PeriodError(f"{label!r} is not a period: give an ISO week like 2025-W48 or a month like 2025-11")


def last_complete(kind: Kind, as_of: date) -> Period:
    """The latest week or month that ended on or before `as_of` (the warehouse's data date)."""
    current = week(as_of) if kind == "weekly" else month(as_of)
    return current if current.end == as_of else current.previous()
