"""Which rows get which defect: exact counts, one kind per row, drawn reproducibly.

The corruption itself is applied in SQL (export.py); this module only plans it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .catalog import Catalog
from .config import GeneratorConfig, Purpose

ORDER_DEFECTS: tuple[str, ...] = (
    "orders_exact_duplicate_lines",
    "orders_blank_order_id",
    "orders_blank_product_id",
    "orders_unparsable_date",
    "orders_impossible_date",
    "orders_future_date",
    "orders_nonpositive_quantity",
    "orders_negative_price",
    "orders_unknown_product",
    "orders_unknown_customer",
    "orders_malformed_wrong_field_count",
    "orders_malformed_broken_quoting",
    "orders_stray_whitespace",
)
CUSTOMER_DEFECTS: tuple[str, ...] = (
    "customers_exported_twice",
    "customers_inconsistent_country_spelling",
    "customers_stray_whitespace",
    "customers_malformed_email",
    "customers_blank_customer_id",
    "customers_malformed_json",
)
PRODUCT_DEFECTS: tuple[str, ...] = (
    "products_negative_price",
    "products_negative_cost",
    "products_blank_product_id",
)
SIMPLE_CSV_KINDS: tuple[str, ...] = ("malformed_wrong_field_count", "unparsable_date")
OPTIONAL_CSV_SHARE = 0.1  # optional sources get a lighter dose than orders/customers
MIN_PER_KIND = 3


def split_counts(n_rows: int, rate: float, kinds: tuple[str, ...], share: float = 1.0,
                 minimum: int = MIN_PER_KIND) -> dict[str, int]:
    """Spread round(n_rows * rate * share) defects evenly over kinds, each at least `minimum`."""
    if rate <= 0 or n_rows == 0:
        return dict.fromkeys(kinds, 0)
    total = round(n_rows * rate * share)
    base, extra = divmod(total, len(kinds))
    counts = {k: max(minimum, base + (1 if i < extra else 0)) for i, k in enumerate(kinds)}
    # Never plan more defects than there are rows (tiny samples).
    cap = max(n_rows // (2 * len(kinds)), 0)
    return {k: min(v, cap) for k, v in counts.items()}


@dataclass(frozen=True)
class DefectPlan:
    row: np.ndarray  # 0-based row position in the clean file order
    kind: np.ndarray  # str, kind name without the file prefix
    variant: np.ndarray  # small int choosing among the forms of a defect
    r: np.ndarray  # random int for values (offsets, ids)

    def table(self) -> pa.Table:
        return pa.table({"row": self.row.astype(np.int64), "kind": self.kind.astype(str),
                         "variant": self.variant.astype(np.int64), "r": self.r.astype(np.int64)})


def plan(rng: np.random.Generator, n_rows: int, counts: dict[str, int], prefix: str,
         eligible: dict[str, np.ndarray] | None = None, protected: np.ndarray | None = None) -> DefectPlan:
    """Pick disjoint rows for every kind; kinds with an eligibility mask are served first.

    Rows marked in `protected` (e.g. the planted fraud-like orders, which must stay valid) never get a defect.
    """
    eligible = eligible or {}
    taken = np.zeros(n_rows, dtype=bool) if protected is None else protected.astype(bool).copy()
    rows: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    order = sorted(counts, key=lambda k: (k not in eligible, list(counts).index(k)))
    for kind in order:
        k = counts[kind]
        if k == 0:
            continue
        ok = ~taken if kind not in eligible else (~taken & eligible[kind])
        candidates = np.flatnonzero(ok)
        if candidates.size < k:
            raise ValueError(f"not enough rows to inject {k} x {kind}")
        pick = np.sort(rng.choice(candidates, size=k, replace=False))
        taken[pick] = True
        rows.append(pick)
        kinds.append(np.full(k, kind.removeprefix(prefix), dtype=object))
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    kind = np.concatenate(kinds) if kinds else np.zeros(0, dtype=object)
    srt = np.argsort(row, kind="stable")
    return DefectPlan(row=row[srt], kind=kind[srt].astype(str), variant=rng.integers(0, 12, row.size)[srt],
                      r=rng.integers(0, 1_000_000_000, row.size)[srt])


@dataclass(frozen=True)
class ProductDefects:
    """Catalogue indices of the products whose row is corrupted (or copied with a blank id)."""

    counts: dict[str, int]
    negative_price: np.ndarray
    negative_cost: np.ndarray
    blank_id_source: np.ndarray  # clean products also exported again with a blank id

    def rejected(self, n_products: int) -> np.ndarray:
        """(P,) bool: products staging quarantines, so that sales of them lose their product."""
        bad = np.zeros(n_products, dtype=bool)
        bad[self.negative_price] = True
        bad[self.negative_cost] = True
        return bad


def product_defect_plan(cfg: GeneratorConfig, cat: Catalog) -> ProductDefects:
    """Which catalogue rows get a negative price or cost, and which are copied with a blank id.

    A pure function of the arguments: the chunks call it too (fraud-like orders avoid these products).
    """
    rng = cfg.rng(Purpose.DEFECTS_PRODUCTS)
    n_products, rate, cost_known = cat.n, cfg.defect_rate, cat.cost_known
    counts = split_counts(n_products, rate, PRODUCT_DEFECTS, share=0.0, minimum=2)
    neg_price = rng.choice(n_products, size=counts["products_negative_price"], replace=False)
    cost_ok = np.flatnonzero(cost_known & ~np.isin(np.arange(n_products), neg_price))
    neg_cost = rng.choice(cost_ok, size=counts["products_negative_cost"], replace=False)
    candidates = np.setdiff1d(np.arange(n_products), neg_price)
    blank_src = rng.choice(candidates, size=counts["products_blank_product_id"], replace=False)
    return ProductDefects(counts=counts, negative_price=neg_price, negative_cost=neg_cost,
                          blank_id_source=blank_src)
