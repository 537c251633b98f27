"""Fraud-like orders: valid, completed order lines that look like card fraud or account takeover.

A small share of each chunk's orders (FRAUD_ORDER_SHARE) is planted on top of the simulated ones.
They pass every staging rule (known customer, clean product, completed, never given a defect) but
combine at least two of these traits:

* ``new_account``: the first order of an account opened 0-2 days before, which otherwise waits longer
  for its first purchase;
* ``bulk``: many units (BULK_QUANTITY) of one expensive product on a single line;
* ``markup``: unit prices far above the product's list price (MARKUP times);
* ``night``: placed between 01:00 and 04:59.

Every fraud basket is made of the catalogue's most expensive clean products at (at least) list price,
so the orders are also large. Orders without the new-account trait hit established accounts (opened
at least ESTABLISHED_MIN_AGE_DAYS before) and ship to another address in the customer's country.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calendar import sample_seconds_of_day
from .catalog import Catalog
from .config import GeneratorConfig, Purpose
from .engagement import DAY
from .geo import build_addresses, draw_cities
from .orders import STATUS_COMPLETED, Lines
from .people import People

FRAUD_ORDER_SHARE = 0.003  # of a chunk's simulated orders (registered and guest)
TRAITS: tuple[str, ...] = ("new_account", "bulk", "markup", "night")
TRAIT_PROBS = np.array([0.5, 0.5, 0.4, 0.6])
MIN_TRAITS = 2
EXPENSIVE_SHARE = 0.12  # the basket comes from the top 12 % of clean list prices
NEW_ACCOUNT_MAX_AGE_DAYS = 2
ESTABLISHED_MIN_AGE_DAYS = 30
BULK_QUANTITY = (6, 15)  # inclusive
BASKET_LINES = (3, 5)  # inclusive, when not bulk
BASKET_QUANTITY = (1, 3)  # inclusive, when not bulk
MARKUP = (2.0, 4.5)
NIGHT_HOURS = (1, 5)  # [01:00, 05:00)


@dataclass
class FraudOrders:
    customer: np.ndarray  # index within the chunk
    ts: np.ndarray  # seconds since start
    address: np.ndarray  # str
    traits: np.ndarray  # (n, len(TRAITS)) bool
    lines: Lines  # lines.order indexes the orders above

    @property
    def n(self) -> int:
        return int(self.customer.size)


def expensive_products(cat: Catalog, rejected: np.ndarray) -> np.ndarray:
    """Catalogue indices of the most expensive products that staging keeps (sorted)."""
    clean = np.flatnonzero(~rejected & (cat.price_cents > 0))
    cut = np.quantile(cat.price_cents[clean], 1.0 - EXPENSIVE_SHARE)
    return clean[cat.price_cents[clean] >= cut]


def plan_fraud(cfg: GeneratorConfig, people: People, cat: Catalog, pool: np.ndarray, n_orders: int,
               order_cust: np.ndarray, order_day: np.ndarray, chunk: int) -> FraudOrders:
    """Fraud-like orders for one chunk; order_cust/order_day are its simulated registered orders."""
    rng = cfg.rng(Purpose.FRAUD, chunk)
    n = round(FRAUD_ORDER_SHARE * n_orders)
    reg = people.registration_day
    first_day = np.full(people.n, np.iinfo(np.int64).max)
    np.minimum.at(first_day, order_cust, order_day.astype(np.int64))

    # New accounts: opened within the period, no real order in their first days (the fraud comes first).
    fresh = np.flatnonzero((reg >= 0) & (reg + NEW_ACCOUNT_MAX_AGE_DAYS < cfg.days)
                           & (first_day > reg + NEW_ACCOUNT_MAX_AGE_DAYS))
    established = np.flatnonzero(reg + ESTABLISHED_MIN_AGE_DAYS < cfg.days)
    if established.size == 0:  # tiny or very short samples: only fresh accounts qualify
        n = min(n, fresh.size)
    u = rng.random((n, len(TRAITS)))
    ratio = u / TRAIT_PROBS
    new_account = (u[:, 0] < TRAIT_PROBS[0]) | (established.size == 0)
    # One fraud per fresh account; any surplus goes to established accounts.
    new_account[np.flatnonzero(new_account)[fresh.size:]] = False
    # The other traits: drawn independently, topped up (most likely first) to MIN_TRAITS in all.
    others = ratio[:, 1:]
    rank = np.argsort(np.argsort(others, axis=1, kind="stable"), axis=1, kind="stable")
    need = np.maximum(MIN_TRAITS - new_account.astype(np.int64), 0)
    has_other = (others < 1.0) | (rank < need[:, None])
    traits = np.column_stack([new_account, has_other])

    n_new = int(new_account.sum())
    customer = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    new_idx = np.flatnonzero(new_account)
    old_idx = np.flatnonzero(~new_account)
    if n_new:
        who = rng.choice(fresh, size=n_new, replace=False)
        customer[new_idx] = who
        day[new_idx] = reg[who] + rng.integers(0, NEW_ACCOUNT_MAX_AGE_DAYS + 1, n_new)
    if old_idx.size:
        who = established[rng.integers(0, established.size, old_idx.size)]
        lo = np.maximum(reg[who] + ESTABLISHED_MIN_AGE_DAYS, 0)
        customer[old_idx] = who
        day[old_idx] = lo + (rng.random(old_idx.size) * (cfg.days - lo)).astype(np.int64)
    night = traits[:, TRAITS.index("night")]
    night_s = rng.integers(NIGHT_HOURS[0] * 3600, NIGHT_HOURS[1] * 3600, n)
    seconds = np.where(night, night_s, sample_seconds_of_day(rng, n))
    if not night.all():
        # A fraud without the night trait avoids the night by construction (clearly one or the other).
        day_s = seconds[~night]
        in_night = (day_s >= NIGHT_HOURS[0] * 3600) & (day_s < NIGHT_HOURS[1] * 3600)
        seconds[np.flatnonzero(~night)[in_night]] += (NIGHT_HOURS[1] - NIGHT_HOURS[0]) * 3600
    ts = day * DAY + seconds

    lines = _baskets(rng, cat, pool, traits)
    country = people.country[customer]
    address = build_addresses(rng, country, draw_cities(rng, country))
    return FraudOrders(customer=customer, ts=ts, address=address, traits=traits, lines=lines)


def _baskets(rng: np.random.Generator, cat: Catalog, pool: np.ndarray, traits: np.ndarray) -> Lines:
    n = traits.shape[0]
    bulk = traits[:, TRAITS.index("bulk")]
    markup = traits[:, TRAITS.index("markup")]
    size = np.where(bulk, 1, rng.integers(BASKET_LINES[0], BASKET_LINES[1] + 1, n))
    size = np.minimum(size, pool.size)
    order = np.repeat(np.arange(n), size)
    first = np.concatenate([[0], np.cumsum(size)[:-1]]).astype(np.int64)
    line_number = np.arange(order.size) - first[order] + 1
    # Distinct products within an order: the first `size` entries of a random permutation of the pool.
    perm = np.argsort(rng.random((n, pool.size)), axis=1)
    product = pool[perm[order, line_number - 1]]
    quantity = np.where(bulk[order], rng.integers(BULK_QUANTITY[0], BULK_QUANTITY[1] + 1, order.size),
                        rng.integers(BASKET_QUANTITY[0], BASKET_QUANTITY[1] + 1, order.size))
    factor = np.where(markup[order], rng.uniform(MARKUP[0], MARKUP[1], order.size), 1.0)
    unit_cents = np.round(cat.price_cents[product] * factor).astype(np.int64)
    return Lines(order=order, line_number=line_number, product=product, quantity=quantity,
                 unit_cents=unit_cents, status=np.full(order.size, STATUS_COMPLETED, dtype=np.int8))
