"""Registered customers: identity, address, persona, category affinity and behavioural parameters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .calendar import Calendar
from .catalog import CATEGORY_NAMES, N_CATEGORIES
from .config import GeneratorConfig, Purpose
from .geo import COUNTRIES, COUNTRY_WEIGHTS, ascii_slug, build_addresses, draw_cities


class Persona(IntEnum):
    FREQUENT = 0
    OCCASIONAL = 1
    ONE_OFF = 2
    CHURNED = 3
    BIG_SPENDER = 4


PERSONA_PROBS = np.array([0.12, 0.44, 0.21, 0.19, 0.04])
# Median orders per year while active (lognormal around it).
PERSONA_ORDERS_PER_YEAR = np.array([15.0, 3.2, 2.0, 6.5, 10.0])  # one-offs: shape only

# Shopping archetypes: which categories dominate the basket (drives behavioural segments).
ARCHETYPES: tuple[tuple[str, float, dict[str, float]], ...] = (
    ("electronics_enthusiast", 0.14, {"Electronics": 5.0, "Books": 0.6}),
    ("fashion_lover", 0.17, {"Fashion": 5.0, "Beauty": 1.5}),
    ("home_maker", 0.16, {"Home & Kitchen": 3.5, "Grocery": 2.0, "Toys & Games": 0.6}),
    ("bargain_hunter", 0.15, {"Grocery": 1.5, "Home & Kitchen": 1.2, "Fashion": 1.2, "Toys & Games": 1.0}),
    ("family", 0.11, {"Toys & Games": 4.0, "Books": 2.0}),
    ("beauty_addict", 0.10, {"Beauty": 5.0, "Fashion": 1.0}),
    ("sporty", 0.09, {"Sports & Outdoors": 5.0, "Fashion": 0.8}),
    ("bookworm", 0.08, {"Books": 5.0, "Grocery": 0.6}),
)
BARGAIN_HUNTER = 3
ARCHETYPE_PROBS = np.array([a[1] for a in ARCHETYPES])
ARCHETYPE_ALPHA = np.full((len(ARCHETYPES), N_CATEGORIES), 0.25)
for _a, (_name, _p, _boost) in enumerate(ARCHETYPES):
    for _cat, _v in _boost.items():
        ARCHETYPE_ALPHA[_a, CATEGORY_NAMES.index(_cat)] += _v

DEVICE_PROBS = np.array([0.32, 0.58, 0.10])  # contract order: desktop, mobile, tablet

_FIRST_SLUGS = [np.array([ascii_slug(x) for x in c.first_names]) for c in COUNTRIES]
_LAST_SLUGS = [np.array([ascii_slug(x) for x in c.last_names]) for c in COUNTRIES]


@dataclass
class People:
    """One chunk of customers; arrays are aligned, index i = customer number lo + i."""

    num: np.ndarray  # int64 customer number (C000001 <-> 1)
    name: np.ndarray  # str
    email_local: np.ndarray  # str, de-duplicated globally later
    email_domain: np.ndarray  # str
    country: np.ndarray  # int
    city: np.ndarray  # str
    address: np.ndarray  # str
    registration_day: np.ndarray  # int offset from start (negative: registered before the period)
    persona: np.ndarray  # int Persona
    archetype: np.ndarray  # int
    affinity: np.ndarray  # (n, C) category preference, rows sum to 1
    taste: np.ndarray  # int price taste 0 cheap / 1 neutral / 2 premium
    base_rate: np.ndarray  # orders per day while active, before seasonality and warmth
    churn_day: np.ndarray  # first day without activity (large when never churning)
    return_mult: np.ndarray  # customer's propensity to return, mean ~1
    opted_in: np.ndarray  # bool, receives marketing e-mails
    engage_bias: np.ndarray  # reads e-mails / browses more or less regardless of buying intent
    web_rate: np.ndarray  # browsing sessions per day at neutral warmth
    device: np.ndarray  # int preferred device

    @property
    def n(self) -> int:
        return len(self.num)


def build_people(cfg: GeneratorConfig, cal: Calendar, chunk: int) -> People:
    rng = cfg.rng(Purpose.PEOPLE, chunk)
    lo, hi = cfg.chunk_bounds(chunk)
    n = hi - lo
    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
    city_idx = draw_cities(rng, country)
    first_u, last_u, pattern_u, dom_u = rng.random((4, n))
    name = np.empty(n, dtype=object)
    local = np.empty(n, dtype=object)
    domain = np.empty(n, dtype=object)
    city = np.empty(n, dtype=object)
    for ci, c in enumerate(COUNTRIES):
        sel = np.flatnonzero(country == ci)
        if sel.size == 0:
            continue
        fi = (first_u[sel] * len(c.first_names)).astype(np.int64)
        li = (last_u[sel] * len(c.last_names)).astype(np.int64)
        first, last = np.array(c.first_names)[fi], np.array(c.last_names)[li]
        name[sel] = np.strings.add(np.strings.add(first, " "), last)
        fs, ls = _FIRST_SLUGS[ci][fi], _LAST_SLUGS[ci][li]
        pu = pattern_u[sel]
        add = np.strings.add
        patterns = [add(add(fs, "."), ls), add(fs, ls), add(add(np.strings.slice(fs, 1), "."), ls),
                    add(add(fs, "_"), ls), add(add(ls, "."), fs)]  # jean.dupont, jeandupont, j.dupont, ...
        local[sel] = np.select([pu < 0.5, pu < 0.65, pu < 0.8, pu < 0.9], patterns[:4], default=patterns[4])
        domain[sel] = np.array(c.domains)[(dom_u[sel] * len(c.domains)).astype(np.int64)]
        city[sel] = np.array([x.name for x in c.cities])[city_idx[sel]]
    address = build_addresses(rng, country, city_idx)

    # Half registered before the period; newcomers arrive following traffic (growth, Black Friday).
    before = rng.random(n) < 0.5
    reg_cdf = np.cumsum(cal.demand) / cal.demand.sum()
    reg_in = np.minimum(np.searchsorted(reg_cdf, rng.random(n), side="right"), cfg.days - 1)
    registration_day = np.where(before, -rng.integers(1, 1100, n), reg_in)

    persona = rng.choice(len(PERSONA_PROBS), size=n, p=PERSONA_PROBS)
    archetype = rng.choice(len(ARCHETYPES), size=n, p=ARCHETYPE_PROBS)
    affinity = rng.gamma(ARCHETYPE_ALPHA[archetype])
    affinity /= affinity.sum(axis=1, keepdims=True)
    taste = np.where(archetype == BARGAIN_HUNTER, 0, 1)
    roll = rng.random(n)
    taste = np.where((taste == 1) & (roll < 0.12), 0, np.where((taste == 1) & (roll > 0.90), 2, taste))
    taste = np.where(persona == Persona.BIG_SPENDER, 2, taste)

    yearly = PERSONA_ORDERS_PER_YEAR[persona] * np.exp(0.5 * rng.standard_normal(n) - 0.125)
    base_rate = yearly / 365.25
    active_from = np.maximum(registration_day, 0)
    churn_day = np.where(persona == Persona.CHURNED,
                         active_from + 20 + rng.exponential(170.0, n).astype(np.int64), 10**6)
    # Some occasional shoppers silently drift away too.
    quiet = (persona == Persona.OCCASIONAL) & (rng.random(n) < 0.12)
    churn_day = np.where(quiet, active_from + 60 + rng.exponential(300.0, n).astype(np.int64), churn_day)

    return_mult = np.exp(0.6 * rng.standard_normal(n) - 0.18) * np.where(rng.random(n) < 0.06, 3.0, 1.0)
    return People(
        num=np.arange(lo, hi, dtype=np.int64),
        name=name.astype(str),
        email_local=local.astype(str),
        email_domain=domain.astype(str),
        country=country,
        city=city.astype(str),
        address=address,
        registration_day=registration_day.astype(np.int64),
        persona=persona,
        archetype=archetype,
        affinity=affinity,
        taste=taste.astype(np.int64),
        base_rate=base_rate,
        churn_day=churn_day.astype(np.int64),
        return_mult=return_mult,
        opted_in=rng.random(n) < 0.68,
        engage_bias=0.5 * rng.standard_normal(n),
        web_rate=np.exp(np.log(0.004) + 0.6 * rng.standard_normal(n)),
        device=rng.choice(3, size=n, p=DEVICE_PROBS),
    )
