"""Orders and order lines: when customers buy (intensity) and what they put in the basket."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calendar import Calendar, sample_seconds_of_day
from .catalog import CATEGORY_QUANTITY_CDF, CATEGORY_RETURN_RATE, Catalog
from .config import GeneratorConfig, Purpose
from .engagement import DAY
from .people import ARCHETYPE_ALPHA, ARCHETYPE_PROBS, BARGAIN_HUNTER, People, Persona

# Global calibration: ~16 order lines per registered customer over two years (default sample ~25k lines).
INTENSITY_SCALE = 1.07
GUEST_ORDER_SHARE = 0.08
WARMTH_EFFECT = 1.2  # log purchase-rate change per standard deviation of warmth

BASKET_CDF = np.cumsum([0.52, 0.25, 0.12, 0.06, 0.03, 0.02])
BIG_BASKET_CDF = np.cumsum([0.30, 0.25, 0.18, 0.12, 0.09, 0.06])
COMPANION_PROB = 0.45
STATUS_COMPLETED, STATUS_CANCELLED, STATUS_RETURNED = 0, 1, 2


@dataclass
class Lines:
    order: np.ndarray  # index into Orders
    line_number: np.ndarray
    product: np.ndarray  # catalogue index
    quantity: np.ndarray
    unit_cents: np.ndarray
    status: np.ndarray


def purchase_intensity(cfg: GeneratorConfig, cal: Calendar, people: People, warmth_day: np.ndarray,
                       boost: np.ndarray) -> np.ndarray:
    """(n, days) probability of an order on each day."""
    d = np.arange(cfg.days)
    active = (d[None, :] >= people.registration_day[:, None]) & (d[None, :] < people.churn_day[:, None])
    since_reg = d[None, :] - people.registration_day[:, None]
    new_account = (people.registration_day[:, None] >= 0) & (since_reg >= 0) & (since_reg < 14)
    welcome = np.where(new_account, 4.0, 1.0)
    # Deal sensitivity: discounts in the categories a customer likes pull extra orders.
    deal = people.affinity @ cal.discount.T  # (n, days)
    sensitivity = np.where(people.archetype == BARGAIN_HUNTER, 6.0, 1.0)[:, None]
    lam = (INTENSITY_SCALE * people.base_rate[:, None] * cal.seasonal[None, :]
           * np.exp(WARMTH_EFFECT * warmth_day - WARMTH_EFFECT**2 / 2)
           * (1.0 + boost) * welcome * (1.0 + sensitivity * deal) * active)
    return np.minimum(lam, 0.8).astype(np.float32)


def draw_order_days(cfg: GeneratorConfig, people: People, lam: np.ndarray,
                    chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, day) of every order; one-off customers get exactly one."""
    rng = cfg.rng(Purpose.ORDERS, chunk)
    one_off = people.persona == Persona.ONE_OFF
    hit = rng.random(lam.shape, dtype=np.float32) < lam
    hit[one_off] = False
    cust, day = np.nonzero(hit)

    # One-off buyers: most register at checkout; the rest buy once on a day drawn from their profile.
    oi = np.flatnonzero(one_off & (people.registration_day < cfg.days))
    registered = np.arange(cfg.days)[None, :] >= np.maximum(people.registration_day[oi], 0)[:, None]
    shape = lam[oi] + 1e-3 * registered
    cdf = np.cumsum(shape, axis=1)
    u = rng.random(oi.size) * cdf[:, -1]
    drawn = (cdf < u[:, None]).sum(axis=1)
    at_reg = (people.registration_day[oi] >= 0) & (rng.random(oi.size) < 0.6)
    one_day = np.where(at_reg, people.registration_day[oi], drawn)
    cust = np.concatenate([cust, oi])
    day = np.concatenate([day, one_day])
    order = np.lexsort((day, cust))
    return cust[order], day[order]


def build_baskets(rng: np.random.Generator, cal: Calendar, cat: Catalog, day: np.ndarray,
                  affinity: np.ndarray, taste: np.ndarray, bargain: np.ndarray, big: np.ndarray,
                  return_mult: np.ndarray) -> Lines:
    """Lines for orders given per-order day, category affinity and shopper traits."""
    n_orders = day.size
    u = rng.random(n_orders)
    # Sale days (Black Friday weekend, January sales) fill bigger baskets.
    big = big | (cal.is_sale_day[day] & (rng.random(n_orders) < 0.4))
    size = 1 + np.where(big, np.searchsorted(BIG_BASKET_CDF, u * BIG_BASKET_CDF[-1], side="right"),
                        np.searchsorted(BASKET_CDF, u * BASKET_CDF[-1], side="right"))
    size = np.minimum(size, 6)
    order = np.repeat(np.arange(n_orders), size)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    pos = np.arange(order.size) - first[order]

    cdf = np.cumsum(affinity[order], axis=1)
    category = np.minimum((cdf < rng.random(order.size)[:, None] * cdf[:, -1:]).sum(axis=1), cdf.shape[1] - 1)
    product = cat.draw_products(rng, category, taste[order])
    # Market-basket structure: later lines are often a companion of the first product.
    anchor = product[first[order]]
    comp_pick = np.where(rng.random(order.size) < 0.5, 0, 1)
    comp = cat.companions[anchor, comp_pick]
    comp = np.where(comp < 0, cat.companions[anchor, 0], comp)
    use_comp = (pos > 0) & (rng.random(order.size) < COMPANION_PROB)
    product = np.where(use_comp, comp, product)

    # Distinct products within an order: shift duplicates to the next product of the category.
    for _ in range(4):
        dup = _duplicate_lines(order, product, pos)
        if not dup.any():
            break
        c = cat.category[product[dup]]
        local = product[dup] - cat.cat_start[c] + 1
        product[dup] = cat.cat_start[c] + local % cat.cat_size[c]
    dup = _duplicate_lines(order, product, pos)
    keep = ~dup
    order, product = order[keep], product[keep]
    first = np.searchsorted(order, order)
    line_number = np.arange(order.size) - first + 1

    pcat = cat.category[product]
    m = order.size
    q_u = rng.random(m)
    quantity = 1 + (CATEGORY_QUANTITY_CDF[pcat] < q_u[:, None]).sum(axis=1)
    quantity = np.minimum(quantity, 4)
    promo = cal.discount[day[order], pcat]
    takes_promo = rng.random(m) < np.where(bargain[order], 1.0, 0.85)
    coupon = rng.random(m) < np.where(bargain[order], 0.12, 0.04)
    factor = (1.0 - promo * takes_promo) * np.where(coupon, 0.9, 1.0)
    unit_cents = np.maximum(np.round(cat.price_cents[product] * factor), 1).astype(np.int64)

    # Status: cancellations flat, returns depend on category mix and the customer's habits.
    o_u, r_u = rng.random(n_orders), rng.random(n_orders)
    cat_rr = np.bincount(order, weights=CATEGORY_RETURN_RATE[pcat], minlength=n_orders).astype(float)
    cat_rr /= np.maximum(np.bincount(order, minlength=n_orders), 1)
    tail = np.clip((cal.days - day) / 30.0, 0.0, 1.0)  # recent orders have not come back yet
    p_return = np.clip(1.15 * cat_rr * return_mult * tail, 0, 0.7)
    o_status = np.where(o_u < 0.04, STATUS_CANCELLED,
                        np.where(r_u < p_return, STATUS_RETURNED, STATUS_COMPLETED))
    status = o_status[order]
    # Rare partial returns: in some returned multi-line orders only some lines go back.
    partial = (o_status == STATUS_RETURNED) & (rng.random(n_orders) < 0.2)
    keep_line = partial[order] & (line_number > 1) & (rng.random(m) < 0.5)
    status = np.where(keep_line, STATUS_COMPLETED, status)
    return Lines(order=order, line_number=line_number, product=product, quantity=quantity,
                 unit_cents=unit_cents, status=status.astype(np.int8))


def _duplicate_lines(order: np.ndarray, product: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """True for every repeat of a product already on an earlier line of the same order."""
    srt = np.lexsort((pos, product, order))
    dup = np.zeros(order.size, dtype=bool)
    dup[srt[1:]] = (order[srt[1:]] == order[srt[:-1]]) & (product[srt[1:]] == product[srt[:-1]])
    return dup


def guest_profile(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Affinity and price taste for guest checkouts (drawn like a random archetype)."""
    archetype = rng.choice(len(ARCHETYPE_PROBS), size=n, p=ARCHETYPE_PROBS)
    affinity = rng.gamma(ARCHETYPE_ALPHA[archetype])
    affinity /= affinity.sum(axis=1, keepdims=True)
    taste = np.where(archetype == BARGAIN_HUNTER, 0, 1)
    return affinity, taste


def order_seconds(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    return day.astype(np.int64) * DAY + sample_seconds_of_day(rng, day.size)
