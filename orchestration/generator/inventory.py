"""Weekly stock snapshots: stock falls with completed sales and is replenished with a lead time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import GeneratorConfig, Purpose

WAREHOUSES = ("W01", "W02", "W03")
WAREHOUSE_SHARE = np.array([0.5, 0.3, 0.2])
SNAPSHOT_SECOND = 6 * 3600  # Monday 06:00
SECOND_WAREHOUSE_TOP_SHARE = 0.05  # best sellers are stocked in two warehouses


@dataclass(frozen=True)
class InventorySnapshots:
    product: np.ndarray  # catalogue index
    warehouse: np.ndarray  # index into WAREHOUSES
    stock: np.ndarray
    ts: np.ndarray  # seconds since start


def simulate_inventory(cfg: GeneratorConfig, start_weekday: int,
                       daily_sales: np.ndarray) -> InventorySnapshots:
    """daily_sales: (products, days) units of completed sales."""
    rng = cfg.rng(Purpose.INVENTORY)
    n_prod, days = daily_sales.shape
    first_monday = (7 - start_weekday) % 7
    mondays = np.arange(first_monday, days, 7)
    n_weeks = mondays.size
    # Units sold between consecutive snapshots (the last interval runs to the end of the period).
    weekly = np.add.reduceat(daily_sales, mondays, axis=1) if n_weeks else np.zeros((n_prod, 0))

    home = rng.choice(len(WAREHOUSES), size=n_prod, p=WAREHOUSE_SHARE)
    second = (home + rng.integers(1, len(WAREHOUSES), n_prod)) % len(WAREHOUSES)
    total = daily_sales.sum(axis=1)
    top = total >= np.quantile(total, 1 - SECOND_WAREHOUSE_TOP_SHARE)
    split = np.zeros((n_prod, len(WAREHOUSES)))
    split[np.arange(n_prod), home] = np.where(top, 0.65, 1.0)
    split[np.arange(n_prod), second] += np.where(top, 0.35, 0.0)
    carried = split > 0

    demand = weekly[:, None, :] * split[:, :, None]  # (P, W, weeks)
    mean = demand.mean(axis=2) + 0.2
    lead = rng.integers(1, 4, (n_prod, len(WAREHOUSES)))
    safety = rng.uniform(0.1, 1.5, (n_prod, len(WAREHOUSES)))  # thin buffers stock out in peaks
    reorder_point = np.ceil(mean * (lead + safety))
    order_up_to = reorder_point + np.ceil(mean * rng.uniform(3, 7, (n_prod, len(WAREHOUSES))))
    stock = np.floor(order_up_to * rng.uniform(0.6, 1.0, order_up_to.shape))
    pending = np.zeros_like(stock)
    arrival = np.full(stock.shape, -1)

    snaps = np.zeros((n_weeks, n_prod, len(WAREHOUSES)), dtype=np.int64)
    for k in range(n_weeks):
        arrived = arrival == k
        stock[arrived] += pending[arrived]
        pending[arrived] = 0
        arrival[arrived] = -1
        snaps[k] = stock
        sold = np.round(demand[:, :, k])
        stock = np.maximum(stock - sold, 0)  # lost sales once empty
        need = (stock + pending <= reorder_point) & (arrival < 0) & carried
        delay = lead + (rng.random(stock.shape) < 0.1) * lead  # sometimes the supplier is late
        pending[need] = (order_up_to - stock)[need]
        arrival[need] = k + delay[need]

    wk, p, w = np.nonzero(np.broadcast_to(carried, snaps.shape))
    return InventorySnapshots(product=p, warehouse=w, stock=snaps[wk, p, w],
                              ts=mondays[wk].astype(np.int64) * 86_400 + SNAPSHOT_SECOND)
