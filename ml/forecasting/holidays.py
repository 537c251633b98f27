"""The holiday table Prophet is given: the main markets' public holidays and the shop's own peak events.

Main markets. The buyer countries, largest completed-sale revenue first, until together they hold at least
MAIN_MARKET_REVENUE_SHARE of the revenue whose country is known, at most MAX_MAIN_MARKETS of them, and only
countries Prophet's holiday tables know (the ``holidays`` package that ships with Prophet: offline). On the
default sample that is France, the United Kingdom and Germany (56 % of the revenue with a known country).
Prophet's ``add_country_holidays`` takes a single country, so the tables of several markets are built with
Prophet's own ``make_holidays_df`` (the function ``add_country_holidays`` uses) and merged: a holiday with
the same name in several markets ("Christmas Day") is one effect, not three.

Shop events, which no public-holiday table has, built for every year of the data and the horizon:

- ``black_friday``: the day after US Thanksgiving (fourth Thursday of November) with the week before it
  (warm-up) and the weekend after, one effect per day from -7 to +2 (Prophet's holiday window): a sharp
  peak whose days differ a lot.
- ``cyber_monday``: Black Friday + 3 days and the Tuesday after, one effect per day.
- Christmas, as four periods with one effect each: ``christmas_shopping`` (1-20 December),
  ``christmas_last_orders`` (21-23, the last shipping days), ``christmas_break`` (24-26) and
  ``christmas_to_new_year`` (27-31).
- ``january_sales``: the winter sales, 2-28 January, one effect (a regulated sales period in France, the
  largest market, and the usual January clearance elsewhere).

A period is one effect, not one per day: with two years of history each day is seen once or twice, and a
coefficient per day of a four-week period would learn that year's noise (a one-off big order on 21 January
would come back every year). Periods are written as one row per day under one holiday name, which Prophet
turns into a single indicator. Effects are shrunk by ``holidays_prior_scale`` (model.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd

MAIN_MARKET_REVENUE_SHARE = 0.5
MAX_MAIN_MARKETS = 3
HOLIDAY_COLUMNS: tuple[str, ...] = ("ds", "holiday", "lower_window", "upper_window")


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November (US Thanksgiving)."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=3, days=1)


def choose_main_markets(
    markets: pd.DataFrame,
    share: float = MAIN_MARKET_REVENUE_SHARE,
    max_markets: int = MAX_MAIN_MARKETS,
) -> list[str]:
    """Country codes to take holidays from (``markets``: country_code, revenue, largest first; see above)."""
    supported = markets[[_is_supported(code) for code in markets["country_code"]]]
    total = float(markets["revenue"].sum())
    if supported.empty or total <= 0:
        return []
    chosen: list[str] = []
    covered = 0.0
    for code, revenue in zip(supported["country_code"], supported["revenue"], strict=True):
        chosen.append(str(code))
        covered += float(revenue)
        if covered >= share * total or len(chosen) >= max_markets:
            break
    return chosen


def _is_supported(country_code: object) -> bool:
    from ml.forecasting.quiet import silence_prophet_logging

    silence_prophet_logging()
    from prophet.make_holidays import get_country_holidays_class

    try:
        get_country_holidays_class(str(country_code))
    except AttributeError:
        return False
    return True


# Multi-day periods with one effect each: (name, (month, first day), (month, last day)).
SHOP_PERIODS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("january_sales", (1, 2), (1, 28)),
    ("christmas_shopping", (12, 1), (12, 20)),
    ("christmas_last_orders", (12, 21), (12, 23)),
    ("christmas_break", (12, 24), (12, 26)),
    ("christmas_to_new_year", (12, 27), (12, 31)),
)


def shop_events(years: Iterable[int]) -> pd.DataFrame:
    """Black Friday, Cyber Monday, the Christmas periods and the January sales for ``years``."""
    rows: list[tuple[pd.Timestamp, str, int, int]] = []
    for year in sorted(set(years)):
        friday = black_friday(year)
        rows.append((pd.Timestamp(friday), "black_friday", -7, 2))
        rows.append((pd.Timestamp(friday + timedelta(days=3)), "cyber_monday", 0, 1))
        for name, (first_month, first_day), (last_month, last_day) in SHOP_PERIODS:
            days = pd.date_range(date(year, first_month, first_day), date(year, last_month, last_day), freq="D")
            rows.extend((day, name, 0, 0) for day in days)
    return pd.DataFrame(rows, columns=list(HOLIDAY_COLUMNS))


def country_holidays(country_codes: Iterable[str], years: Iterable[int]) -> pd.DataFrame:
    """Public holidays of the countries from Prophet's built-in tables, one row per (day, holiday name)."""
    from ml.forecasting.quiet import quiet_warnings, silence_prophet_logging

    silence_prophet_logging()
    from prophet.make_holidays import make_holidays_df

    year_list = sorted(set(years))
    with quiet_warnings():
        frames = [make_holidays_df(year_list=year_list, country=code) for code in country_codes]
    if not frames:
        return pd.DataFrame(columns=list(HOLIDAY_COLUMNS))
    table = pd.concat(frames, ignore_index=True).drop_duplicates(["ds", "holiday"])
    table["lower_window"] = 0
    table["upper_window"] = 0
    return table[list(HOLIDAY_COLUMNS)]


def holiday_table(country_codes: Iterable[str], first_year: int, last_year: int) -> pd.DataFrame:
    """Country holidays and shop events for ``first_year``..``last_year``, sorted (a stable model input)."""
    years = range(first_year, last_year + 1)
    table = pd.concat([country_holidays(country_codes, years), shop_events(years)], ignore_index=True)
    table["ds"] = pd.to_datetime(table["ds"])
    table["lower_window"] = table["lower_window"].astype(int)
    table["upper_window"] = table["upper_window"].astype(int)
    return table.sort_values(["ds", "holiday"], kind="stable").reset_index(drop=True)
