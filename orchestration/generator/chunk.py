"""Simulate one fixed-size chunk of customers (plus its share of guests) and spill it to parquet."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .calendar import Calendar
from .catalog import Catalog
from .config import GeneratorConfig, Purpose
from .defects import product_defect_plan
from .engagement import (
    browse_boost,
    click_boost,
    simulate_browsing,
    simulate_emails,
    simulate_sessions,
    simulate_warmth,
)
from .fraud import expensive_products, plan_fraud
from .geo import COUNTRIES, COUNTRY_NAMES, COUNTRY_WEIGHTS, build_addresses, draw_cities
from .orders import (
    GUEST_ORDER_SHARE,
    STATUS_COMPLETED,
    build_baskets,
    draw_order_days,
    guest_profile,
    order_seconds,
    purchase_intensity,
)
from .people import People, Persona, build_people

log = logging.getLogger(__name__)

TABLES = ("customers", "lines", "sessions", "emails")
# Loyalty tiers from spend over the period (euros, after noise): platinum is rare and high-value.
TIER_THRESHOLDS_CENTS = np.array([30_000, 110_000, 320_000])
TIER_NAMES = np.array(["bronze", "silver", "gold", "platinum"])


def _key(chunk: int, local: np.ndarray) -> np.ndarray:
    """Globally unique, chunk-ordered key for rows created in a chunk."""
    return (np.int64(chunk) << np.int64(32)) | local.astype(np.int64)


def _write(table: pa.Table, tmp: Path, name: str, chunk: int) -> None:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"chunk_{chunk:05d}.parquet", compression="zstd")


def simulate_chunk(cfg: GeneratorConfig, cal: Calendar, cat: Catalog, chunk: int,
                   tmp: Path) -> dict[str, int]:
    people = build_people(cfg, cal, chunk)
    warmth = simulate_warmth(cfg, people.n, chunk)
    warmth_day = warmth[:, np.arange(cfg.days) // 7]
    emails = simulate_emails(cfg, cal, people, warmth, chunk)
    browse = simulate_browsing(cfg, cal, people, warmth_day, chunk)
    boost = click_boost(cfg, people, emails) + browse_boost(cfg, people, browse)
    lam = purchase_intensity(cfg, cal, people, warmth_day, boost)
    del boost
    cust, day = draw_order_days(cfg, people, lam, chunk)
    del lam

    rng = cfg.rng(Purpose.BASKETS, chunk)
    ts = order_seconds(rng, day)
    bargain = people.taste[cust] == 0
    big = people.persona[cust] == Persona.BIG_SPENDER
    lines = build_baskets(rng, cal, cat, day, people.affinity[cust], people.taste[cust], bargain, big,
                          people.return_mult[cust])
    # Most orders go to the customer's address; a few are gifts shipped elsewhere in the country.
    address = people.address[cust].astype(object)
    gift = np.flatnonzero(rng.random(cust.size) < 0.04)
    gift_country = people.country[cust[gift]]
    address[gift] = build_addresses(rng, gift_country, draw_cities(rng, gift_country))

    # Guests: a share of all orders, timed like the shop's traffic, with random profiles.
    grng = cfg.rng(Purpose.GUESTS, chunk)
    n_guest = int(grng.poisson(GUEST_ORDER_SHARE / (1 - GUEST_ORDER_SHARE) * cust.size))
    g_cdf = np.cumsum(cal.demand) / cal.demand.sum()
    g_day = np.minimum(np.searchsorted(g_cdf, grng.random(n_guest), side="right"), cfg.days - 1)
    g_ts = order_seconds(grng, g_day)
    g_aff, g_taste = guest_profile(grng, n_guest)
    g_lines = build_baskets(grng, cal, cat, g_day, g_aff, g_taste, g_taste == 0, np.zeros(n_guest, bool),
                            np.ones(n_guest))
    g_country = grng.choice(len(COUNTRIES), size=n_guest, p=COUNTRY_WEIGHTS)
    g_address = build_addresses(grng, g_country, draw_cities(grng, g_country))

    n_cust_orders = cust.size
    order_cust = np.concatenate([cust, np.full(n_guest, -1)])
    order_ts = np.concatenate([ts, g_ts])
    order_key = _key(chunk, np.arange(order_cust.size))

    # Fraud-like orders on top (valid rows, never given a defect): they get no web sessions.
    pool = expensive_products(cat, product_defect_plan(cfg, cat).rejected(cat.n))
    fraud = plan_fraud(cfg, people, cat, pool, order_cust.size, cust, day, chunk)
    n_sim = order_cust.size
    all_cust = np.concatenate([order_cust, fraud.customer])
    all_ts = np.concatenate([order_ts, fraud.ts])
    all_key = _key(chunk, np.arange(all_cust.size))
    order_addr = np.concatenate([address.astype(str), g_address, fraud.address])
    is_fraud = np.arange(all_cust.size) >= n_sim
    line_order = np.concatenate([lines.order, g_lines.order + n_cust_orders, fraud.lines.order + n_sim])
    line_fields = {f: np.concatenate([getattr(lines, f), getattr(g_lines, f), getattr(fraud.lines, f)])
                   for f in ("line_number", "product", "quantity", "unit_cents", "status")}
    cust_num = np.where(all_cust >= 0, people.num[np.maximum(all_cust, 0)], 0)
    _write(pa.table({
        "order_key": all_key[line_order],
        "customer_num": cust_num[line_order],
        "line_number": line_fields["line_number"].astype(np.int32),
        "product": line_fields["product"].astype(np.int32),
        "quantity": line_fields["quantity"].astype(np.int32),
        "unit_cents": line_fields["unit_cents"],
        "ts": all_ts[line_order],
        "status": line_fields["status"],
        "address": order_addr[line_order],
        "fraud": is_fraud[line_order],
    }), tmp, "lines", chunk)

    sessions = simulate_sessions(cfg, cal, people, browse, emails, order_cust, order_ts, order_key, chunk)
    _write(pa.table({
        "session_key": _key(chunk, np.arange(sessions.ts.size)),
        "customer_num": np.where(sessions.customer >= 0, people.num[np.maximum(sessions.customer, 0)], 0),
        "ts": sessions.ts,
        "channel": sessions.channel,
        "device": sessions.device,
        "pages": sessions.pages.astype(np.int32),
        "order_key": sessions.order_key,
    }), tmp, "sessions", chunk)
    _write(pa.table({
        "customer_num": people.num[emails.customer],
        "campaign": emails.campaign.astype(np.int32),
        "kind": emails.kind,
        "ts": emails.ts,
    }), tmp, "emails", chunk)

    # Loyalty tier follows realised value (completed spend), with noise; a few never enrolled.
    value = (lines.unit_cents * lines.quantity * (lines.status == STATUS_COMPLETED)).astype(float)
    spend = np.bincount(cust[lines.order], weights=value, minlength=people.n)
    trng = cfg.rng(Purpose.TIERS, chunk)
    tier_idx = np.searchsorted(TIER_THRESHOLDS_CENTS, spend * np.exp(0.3 * trng.standard_normal(people.n)))
    tier = np.where(trng.random(people.n) < 0.04, None, TIER_NAMES[tier_idx].astype(object))
    _write(_customer_table(people, tier), tmp, "customers", chunk)
    stats = {"orders": int(all_cust.size), "lines": int(line_order.size), "fraud_orders": fraud.n,
             "sessions": int(sessions.ts.size), "emails": int(emails.ts.size)}
    log.info("chunk %d: %d customers, %s", chunk, people.n, stats)
    return stats


def _customer_table(people: People, tier: np.ndarray) -> pa.Table:
    return pa.table({
        "customer_num": people.num,
        "name": people.name,
        "email_local": people.email_local,
        "email_domain": people.email_domain,
        "city": people.city,
        "country": np.array(COUNTRY_NAMES)[people.country],
        "registration_day": people.registration_day,
        "loyalty_tier": pa.array(tier, type=pa.string()),
        "persona": people.persona.astype(np.int8),
        "archetype": people.archetype.astype(np.int8),
    })
