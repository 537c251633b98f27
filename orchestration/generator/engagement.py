"""Latent warmth, e-mail campaigns and web sessions.

Warmth is a per-customer weekly AR(1) process. It drives e-mail opens/clicks, browsing and
(in orders.py) the purchase rate, so engagement observed today carries information about
purchases in the coming weeks beyond recency/frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .calendar import Calendar, sample_seconds_of_day
from .config import GeneratorConfig, Purpose
from .people import DEVICE_PROBS, People

WARMTH_RHO = 0.8  # weekly persistence: about a month of memory
BROWSE_WARMTH = 1.6  # log browsing-rate change per standard deviation of warmth
DAY = 86_400

# Contract order: organic, paid_search, email, social, direct, referral.
CHANNEL_PROBS = np.array([0.30, 0.21, 0.06, 0.13, 0.22, 0.08])
CONVERTING_CHANNEL_PROBS = np.array([0.22, 0.24, 0.10, 0.07, 0.30, 0.07])
EMAIL_CHANNEL = 2
ANONYMOUS_SESSIONS_PER_CUSTOMER_DAY = 0.0006
PRE_ORDER_VISITS = 0.7  # mean research visits in the three weeks before an order
CONVERSION_TRACKED = 0.15  # share of orders whose session is tracked (cookie consent)


def simulate_warmth(cfg: GeneratorConfig, n: int, chunk: int) -> np.ndarray:
    """(n, weeks) standard-normal stationary AR(1) per customer."""
    rng = cfg.rng(Purpose.WARMTH, chunk)
    weeks = cfg.days // 7 + 1
    w = np.empty((n, weeks), dtype=np.float32)
    w[:, 0] = rng.standard_normal(n)
    shock = np.sqrt(1 - WARMTH_RHO**2)
    for k in range(1, weeks):
        w[:, k] = WARMTH_RHO * w[:, k - 1] + shock * rng.standard_normal(n, dtype=np.float32)
    return w


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class EmailEvents:
    customer: np.ndarray  # index within chunk
    campaign: np.ndarray  # campaign index
    kind: np.ndarray  # 0 sent, 1 opened, 2 clicked
    ts: np.ndarray  # seconds since start


def simulate_emails(cfg: GeneratorConfig, cal: Calendar, people: People, warmth: np.ndarray,
                    chunk: int) -> EmailEvents:
    rng = cfg.rng(Purpose.EMAIL, chunk)
    n, k = people.n, len(cal.campaign_days)
    cday = cal.campaign_days
    eligible = people.opted_in[:, None] & (people.registration_day[:, None] <= cday[None, :])
    target = np.where(cal.campaign_is_promo, 0.10, 0.065)
    sent = eligible & (rng.random((n, k)) < target[None, :])
    w = warmth[:, cday // 7]
    lapsed = cday[None, :] >= people.churn_day[:, None]
    logit_open = -1.55 + 0.9 * w + people.engage_bias[:, None] - 2.0 * lapsed
    opened = sent & (rng.random((n, k)) < _sigmoid(logit_open))
    logit_click = -2.0 + 0.8 * w + 0.5 * cal.campaign_is_promo[None, :]
    clicked = opened & (rng.random((n, k)) < _sigmoid(logit_click))

    send_ts = cday[None, :] * DAY + 9 * 3600 + rng.integers(0, 2 * 3600, (n, k))
    open_delay = np.exp(np.log(7200) + 1.2 * rng.standard_normal((n, k)))  # median 2 h, long tail
    open_delay = np.minimum(open_delay, 3 * DAY).astype(np.int64)
    open_ts = send_ts + 30 + open_delay
    click_ts = open_ts + rng.integers(5, 900, (n, k))
    parts = []
    for kind, mask, ts in ((0, sent, send_ts), (1, opened, open_ts), (2, clicked, click_ts)):
        ci, ki = np.nonzero(mask)
        parts.append((ci, ki, np.full(ci.size, kind, dtype=np.int8), ts[ci, ki]))
    return EmailEvents(
        customer=np.concatenate([p[0] for p in parts]),
        campaign=np.concatenate([p[1] for p in parts]),
        kind=np.concatenate([p[2] for p in parts]),
        ts=np.concatenate([p[3] for p in parts]).astype(np.int64),
    )


def event_boost(cfg: GeneratorConfig, n: int, cust: np.ndarray, day: np.ndarray, amplitude: float,
                tau: float) -> np.ndarray:
    """(n, days) bump on purchase intensity during the 14 days after each event (decaying)."""
    boost = np.zeros((n, cfg.days + 15), dtype=np.float32)
    for lag in range(15):
        np.add.at(boost, (cust, day + lag), np.float32(amplitude * np.exp(-lag / tau)))
    return boost[:, : cfg.days]


def click_boost(cfg: GeneratorConfig, people: People, emails: EmailEvents) -> np.ndarray:
    """An e-mail click makes an order much more likely in the next two weeks."""
    clicks = emails.kind == 2
    return event_boost(cfg, people.n, emails.customer[clicks], emails.ts[clicks] // DAY, 2.5, 5.0)


def simulate_browsing(cfg: GeneratorConfig, cal: Calendar, people: People, warmth_day: np.ndarray,
                      chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(customer index, day) of logged-in browsing visits; warm customers browse far more."""
    rng = cfg.rng(Purpose.WEB, chunk)
    d = np.arange(cfg.days)
    registered = d[None, :] >= people.registration_day[:, None]
    fading = np.where(d[None, :] >= people.churn_day[:, None], 0.1, 1.0)
    rate = (people.web_rate[:, None] * np.exp(BROWSE_WARMTH * warmth_day + 0.4 * people.engage_bias[:, None]
                                              - BROWSE_WARMTH**2 / 2 - 0.08)
            * np.sqrt(cal.seasonal)[None, :] * fading * registered)
    return np.nonzero(rng.random((people.n, cfg.days), dtype=np.float32) < rate)


def browse_boost(cfg: GeneratorConfig, people: People, browse: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """A visit (browsing, comparing) raises the chance of buying in the following days."""
    return event_boost(cfg, people.n, browse[0], browse[1] + 1, 1.2, 4.0)


@dataclass
class Sessions:
    customer: np.ndarray  # index within chunk, -1 anonymous
    ts: np.ndarray
    channel: np.ndarray
    device: np.ndarray
    pages: np.ndarray
    order_key: np.ndarray  # -1 when not converting


def simulate_sessions(cfg: GeneratorConfig, cal: Calendar, people: People,
                      browse: tuple[np.ndarray, np.ndarray], emails: EmailEvents,
                      orders_cust: np.ndarray, orders_ts: np.ndarray, orders_key: np.ndarray,
                      chunk: int) -> Sessions:
    """Browsing visits, bursts before orders, converting and e-mail click sessions, anonymous traffic."""
    rng = cfg.rng(Purpose.WEB, 1_000_000 + chunk)
    days = cfg.days
    n = people.n
    bc, bd = browse
    browse_ts = bd * DAY + sample_seconds_of_day(rng, bc.size)

    # Research before buying: a few visits in the days before a registered customer's order.
    known = orders_cust >= 0
    oc, ots = orders_cust[known], orders_ts[known]
    k = rng.poisson(PRE_ORDER_VISITS, oc.size)
    pc, pts = np.repeat(oc, k), np.repeat(ots, k)
    lag_days = np.minimum(rng.exponential(5.0, pc.size), 20).astype(np.int64) + 1
    pre_ts = (pts // DAY - lag_days) * DAY + sample_seconds_of_day(rng, pc.size)
    ok = (pre_ts >= 0) & (pre_ts // DAY >= people.registration_day[pc])
    pc, pre_ts = pc[ok], pre_ts[ok]

    # Converting session, when tracked: starts a few minutes before the order.
    tracked = rng.random(orders_ts.size) < CONVERSION_TRACKED
    conv_ts = orders_ts - rng.integers(120, 2700, orders_ts.size)
    tracked &= conv_ts >= 0
    cc, cts, ckey = orders_cust[tracked], conv_ts[tracked], orders_key[tracked]

    clicks = emails.kind == 2
    ec, ets = emails.customer[clicks], emails.ts[clicks] + 2
    ok = ets < days * DAY
    ec, ets = ec[ok], ets[ok]

    n_anon = int(rng.poisson(ANONYMOUS_SESSIONS_PER_CUSTOMER_DAY * n * days))
    anon_cdf = np.cumsum(cal.demand) / cal.demand.sum()
    anon_day = np.minimum(np.searchsorted(anon_cdf, rng.random(n_anon), side="right"), days - 1)
    anon_ts = anon_day * DAY + sample_seconds_of_day(rng, n_anon)

    cust = np.concatenate([bc, pc, cc, ec, np.full(n_anon, -1)]).astype(np.int64)
    ts = np.concatenate([browse_ts, pre_ts, cts, ets, anon_ts]).astype(np.int64)
    group = np.concatenate([np.full(bc.size, 0), np.full(pc.size, 1), np.full(cc.size, 2),
                            np.full(ec.size, 3), np.full(n_anon, 0)])
    m = cust.size
    channel = np.where(group == 2, rng.choice(6, m, p=CONVERTING_CHANNEL_PROBS),
                       rng.choice(6, m, p=CHANNEL_PROBS))
    channel = np.where(group == 3, EMAIL_CHANNEL, channel)
    own = np.where(cust >= 0, people.device[np.maximum(cust, 0)], 1)
    device = np.where((cust >= 0) & (rng.random(m) < 0.7), own, rng.choice(3, m, p=DEVICE_PROBS))
    bounce = rng.random(m) < np.where(group == 0, 0.38, 0.12)
    pages = np.where(bounce, 1, 2 + rng.geometric(np.where(group == 1, 0.2, 0.3), m))
    pages = np.where(group == 2, 4 + rng.poisson(6.0, m), pages)
    order_key = np.concatenate([np.full(bc.size + pc.size, -1), ckey, np.full(ec.size + n_anon, -1)])
    return Sessions(customer=cust, ts=ts, channel=channel.astype(np.int8), device=device.astype(np.int8),
                    pages=pages.astype(np.int64), order_key=order_key.astype(np.int64))
