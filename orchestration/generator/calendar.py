"""Daily demand curve, promotions and the hour-of-day profile of the shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from .catalog import CATEGORY_NAMES
from .config import GeneratorConfig, Purpose

# Mon..Sun: Sunday evening and Monday are strong online, Friday/Saturday weaker.
WEEKDAY_FACTOR = np.array([1.12, 1.02, 0.97, 0.98, 0.90, 0.84, 1.17])
ANNUAL_GROWTH = 0.25

# Orders per hour of day (local time): few at night, lunch bump, evening peak ~20-21h.
HOUR_WEIGHTS = np.array(
    [0.9, 0.5, 0.3, 0.2, 0.2, 0.3, 0.7, 1.4, 2.3, 2.9, 3.3, 3.6,
     4.2, 4.0, 3.7, 3.6, 3.8, 4.3, 5.1, 6.4, 7.5, 7.8, 6.1, 3.4]
)
HOUR_CDF = np.cumsum(HOUR_WEIGHTS) / HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class Calendar:
    start: date
    days: int
    demand: np.ndarray  # (days,) relative shop traffic incl. growth trend, mean 1 over the period
    seasonal: np.ndarray  # (days,) demand without the trend: one customer's seasonal rhythm
    discount: np.ndarray  # (days, n_categories) promotional discount depth in [0, 1)
    is_sale_day: np.ndarray  # (days,) bool: Black Friday weekend, Cyber Monday, January sales
    campaign_days: np.ndarray  # (n_campaigns,) day offsets of e-mail campaigns
    campaign_is_promo: np.ndarray  # (n_campaigns,) bool: campaign announces a promotion


def black_friday(year: int) -> date:
    """The day after US Thanksgiving (fourth Thursday of November).

    Usually the fourth Friday too, but not when November starts on a Friday (2024: the 29th).
    """
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=3, days=1)


def _yearly_factor(day_of_year: np.ndarray) -> np.ndarray:
    """Smooth seasonality: summer lull (late July/August) and an autumn ramp."""
    doy = day_of_year.astype(float)
    summer = -0.16 * np.exp(-(((doy - 218) / 28) ** 2))
    spring = 0.05 * np.exp(-(((doy - 100) / 30) ** 2))
    autumn = 0.18 * np.exp(-(((doy - 305) / 40) ** 2))
    return 1.0 + summer + spring + autumn


def build_calendar(cfg: GeneratorConfig) -> Calendar:
    rng = cfg.rng(Purpose.CALENDAR)
    n_cat = len(CATEGORY_NAMES)
    dates = [cfg.start + timedelta(days=i) for i in range(cfg.days)]
    doy = np.array([d.timetuple().tm_yday for d in dates])
    weekday = np.array([d.weekday() for d in dates])
    t_years = np.arange(cfg.days) / 365.25

    trend = np.exp(np.log1p(ANNUAL_GROWTH) * t_years)
    demand = WEEKDAY_FACTOR[weekday] * _yearly_factor(doy)
    discount = np.zeros((cfg.days, n_cat))
    is_sale = np.zeros(cfg.days, dtype=bool)
    cat = {name: i for i, name in enumerate(CATEGORY_NAMES)}

    def idx(d: date) -> int | None:
        i = (d - cfg.start).days
        return i if 0 <= i < cfg.days else None

    for year in range(cfg.start.year, cfg.end.year + 1):
        # Christmas: ramp through Dec 20, last-minute days, then the collapse on 24-26.
        for day in range(1, 32):
            i = idx(date(year, 12, day))
            if i is None:
                continue
            if day <= 20:
                demand[i] *= 1.1 + 0.5 * day / 20
            elif day <= 23:
                demand[i] *= 1.35
            elif day <= 26:
                demand[i] *= {24: 0.55, 25: 0.35, 26: 0.7}[day]
            else:
                demand[i] *= 1.05
        # January sales (soldes): higher traffic with deep discounts on fashion and home.
        for day in range(2, 29):
            i = idx(date(year, 1, day))
            if i is None:
                continue
            demand[i] *= 1.3 if day <= 14 else 1.12
            is_sale[i] = True
            discount[i, :] = 0.10
            discount[i, cat["Fashion"]] = 0.30
            discount[i, cat["Home & Kitchen"]] = 0.20
            discount[i, cat["Sports & Outdoors"]] = 0.20
        # Black Friday to Cyber Monday; the week before is a warm-up, early November a wait.
        bf = black_friday(year)
        for off, mult, depth in [(-7, 1.1, 0.0), (-6, 1.1, 0.0), (-5, 1.15, 0.0), (-4, 1.2, 0.05),
                                 (-3, 1.25, 0.05), (-2, 1.3, 0.1), (-1, 1.5, 0.1), (0, 4.3, 0.20),
                                 (1, 2.2, 0.2), (2, 1.9, 0.2), (3, 2.6, 0.2), (4, 1.3, 0.1)]:
            i = idx(bf + timedelta(days=off))
            if i is None:
                continue
            demand[i] *= mult
            discount[i, :] = np.maximum(discount[i, :], depth)
            if off >= 0:
                is_sale[i] = True
        i = idx(bf + timedelta(days=3))
        if i is not None:  # Cyber Monday is an electronics event
            discount[i, cat["Electronics"]] = 0.30

    # Occasional flash promotions: one category discounted for three days, ~every 3 weeks.
    n_weeks = cfg.days // 7
    for week in range(n_weeks):
        hit = rng.random() < 0.35
        c = int(rng.integers(n_cat))
        depth = float(rng.choice([0.10, 0.15, 0.20]))
        first = week * 7 + int(rng.integers(0, 5))
        if hit:
            span = slice(first, min(first + 3, cfg.days))
            discount[span, c] = np.maximum(discount[span, c], depth)
            demand[span] *= 1.0 + 0.4 * depth  # promotions pull a little extra traffic

    # Growth comes from new customers (registrations follow `demand`), so an existing customer's
    # rhythm is the seasonal curve alone; the shop-level curve carries the trend.
    seasonal = demand / demand.mean()
    demand = seasonal * trend
    demand /= demand.mean()

    # E-mail campaigns: weekly (Tuesday or Thursday), plus Black Friday and Christmas pushes.
    camp: list[int] = []
    promo: list[bool] = []
    for week in range(n_weeks):
        d = week * 7 + ((1 - cfg.start.weekday()) % 7) + (2 if rng.random() < 0.5 else 0)
        if d < cfg.days - 4:
            camp.append(d)
            promo.append(bool(discount[min(d + 1, cfg.days - 1)].max() > 0))
    for year in range(cfg.start.year, cfg.end.year + 1):
        for special in (black_friday(year), black_friday(year) + timedelta(days=3), date(year, 12, 12)):
            i = idx(special)
            if i is not None and i < cfg.days - 4 and i not in camp:
                camp.append(i)
                promo.append(True)
    order = np.argsort(np.array(camp), kind="stable")
    return Calendar(
        start=cfg.start,
        days=cfg.days,
        demand=demand,
        seasonal=seasonal,
        discount=discount,
        is_sale_day=is_sale,
        campaign_days=np.array(camp, dtype=np.int64)[order],
        campaign_is_promo=np.array(promo, dtype=bool)[order],
    )


def sample_seconds_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight following the hourly profile."""
    hour = np.searchsorted(HOUR_CDF, rng.random(n), side="right")
    return hour * 3600 + rng.integers(0, 3600, n)
