"""Automatic, unique and stable names for behavioural segments.

A segment is described by its centroid in z-scores: the mean over its customers of each feature standardised
over all customers (average order value and frequency on a log scale, like the clustering; no block weights),
so +1.0 means "one standard deviation above the average customer".

Candidate names (the thresholds are constants below):

* ``"<Category> enthusiasts"``: the category's spend share is at least ``TRAIT_Z`` (0.75) sd above average and
  the segment spends at least ``MIN_CATEGORY_SHARE`` (25 %) of its revenue on it; score = the share's z-score.
  When two or more categories qualify, the two with the largest spend shares also make
  ``"<A> and <B> enthusiasts"`` (A the larger share), score = the sum of their z-scores, so a segment split
  between Fashion and Beauty is not called after one of them only.
* Two-trait behaviours, each trait at least ``PAIR_Z`` (0.5) sd in the stated direction; score = the sum of the
  two absolute z-scores, so a clear pair beats either of its single traits:
  "Lapsed big spenders" (high average order, long since last order), "Loyal regulars" (high frequency, recent),
  "Bargain hunters" (low average order, high frequency), "Frequent big spenders" (high average order, high
  frequency), "New buyers" (low frequency, recent), "Lapsed occasional buyers" (low frequency, long since last
  order).
* One-trait behaviours at least ``TRAIT_Z`` sd away; score = the absolute z-score: "Serial returners" (return
  rate), "Big spenders" / "Small baskets" (average order), "Frequent buyers" / "Occasional buyers"
  (frequency), "Lapsed customers" / "Recent buyers" (recency).

Assignment is greedy over every (segment, candidate) pair, strongest score first: a pair is taken when neither
its segment nor its name is taken yet, so the segment that shows a trait most strongly gets its name. Ties go
to the segment that comes first in canonical order (the caller's order: size descending, then centroid), then
to the rule order above. A segment left without a free candidate takes its best candidate's name followed by
" (2)", " (3)"... in canonical order; segments with no candidate at all (no trait passes a threshold) are
``FALLBACK_NAME``, then ``FALLBACK_NAME (2)``..., so names are always unique. Everything depends only on the
centroids and the canonical order, never on K-means' arbitrary cluster numbers, so the same data always gives
the same names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

TRAIT_Z = 0.75
PAIR_Z = 0.5
MIN_CATEGORY_SHARE = 0.25
FALLBACK_NAME = "Mainstream customers"

AOV = "average_order_value"
FREQUENCY = "frequency"
RECENCY = "recency_days"
RETURNS = "return_rate"

# (name, (feature, direction), (feature, direction)): direction +1 = above average, -1 = below.
PAIR_RULES: tuple[tuple[str, tuple[str, int], tuple[str, int]], ...] = (
    ("Lapsed big spenders", (AOV, 1), (RECENCY, 1)),
    ("Loyal regulars", (FREQUENCY, 1), (RECENCY, -1)),
    ("Bargain hunters", (AOV, -1), (FREQUENCY, 1)),
    ("Frequent big spenders", (AOV, 1), (FREQUENCY, 1)),
    ("New buyers", (FREQUENCY, -1), (RECENCY, -1)),
    ("Lapsed occasional buyers", (FREQUENCY, -1), (RECENCY, 1)),
)
SINGLE_RULES: tuple[tuple[str, str, int], ...] = (
    ("Serial returners", RETURNS, 1),
    ("Big spenders", AOV, 1),
    ("Small baskets", AOV, -1),
    ("Frequent buyers", FREQUENCY, 1),
    ("Occasional buyers", FREQUENCY, -1),
    ("Lapsed customers", RECENCY, 1),
    ("Recent buyers", RECENCY, -1),
)


@dataclass(frozen=True)
class Candidate:
    name: str
    score: float
    rule: int  # position in the rule order: category pair, categories (column order), behaviour pairs, singles


def candidates(z: pd.Series, shares: pd.Series, category_labels: Mapping[str, str]) -> list[Candidate]:
    """Every name one segment qualifies for. ``z``: its centroid z-scores by feature; ``shares``: its spend
    share per ``share_*`` column (segment revenue in the category / segment revenue)."""
    out: list[Candidate] = []
    qualifying = [
        c for c in category_labels if c in z.index and z[c] >= TRAIT_Z and shares.get(c, 0.0) >= MIN_CATEGORY_SHARE
    ]
    if len(qualifying) >= 2:
        # Largest spend share first; ties keep the column order (sorted is stable).
        a, b = sorted(qualifying, key=lambda c: -shares[c])[:2]
        out.append(Candidate(f"{category_labels[a]} and {category_labels[b]} enthusiasts", float(z[a] + z[b]), 0))
    rule = 1
    for column, label in category_labels.items():
        if column in qualifying:
            out.append(Candidate(f"{label} enthusiasts", float(z[column]), rule))
        rule += 1
    for name, (f1, d1), (f2, d2) in PAIR_RULES:
        if f1 in z.index and f2 in z.index and z[f1] * d1 >= PAIR_Z and z[f2] * d2 >= PAIR_Z:
            out.append(Candidate(name, float(z[f1] * d1 + z[f2] * d2), rule))
        rule += 1
    for name, feature, direction in SINGLE_RULES:
        if feature in z.index and z[feature] * direction >= TRAIT_Z:
            out.append(Candidate(name, float(z[feature] * direction), rule))
        rule += 1
    return out


def assign_names(per_segment: list[list[Candidate]]) -> list[str]:
    """Unique names for segments given in canonical order (see the module docstring)."""
    pairs = [(c, i) for i, cands in enumerate(per_segment) for c in cands]
    pairs.sort(key=lambda p: (-p[0].score, p[1], p[0].rule))
    names: list[str | None] = [None] * len(per_segment)
    used: set[str] = set()
    for cand, i in pairs:
        if names[i] is None and cand.name not in used:
            names[i] = cand.name
            used.add(cand.name)
    counts: dict[str, int] = {}
    out: list[str] = []
    for i, name in enumerate(names):
        if name is not None:
            out.append(name)
            continue
        best = min(per_segment[i], key=lambda c: (-c.score, c.rule)).name if per_segment[i] else FALLBACK_NAME
        # The first holder of a base name is the greedy winner (or the first fallback); suffixes count from 2.
        counts[best] = counts.get(best, 1 if best in used else 0) + 1
        used.add(best)
        out.append(best if counts[best] == 1 else f"{best} ({counts[best]})")
    return out


def name_segments(
    centroids_z: pd.DataFrame, spend_shares: pd.DataFrame, category_labels: Mapping[str, str]
) -> list[str]:
    """Names for the segments of ``centroids_z`` (rows in canonical order, columns = features)."""
    per_segment = [
        candidates(centroids_z.iloc[i], spend_shares.iloc[i], category_labels) for i in range(len(centroids_z))
    ]
    names = assign_names(per_segment)
    if len(set(names)) != len(names):  # cannot happen by construction; guard against a future edit
        raise AssertionError(f"segment names are not unique: {names}")
    logger.info("named %d segments: %s", len(names), names)
    return names


def top_traits(z: pd.Series, category_labels: Mapping[str, str], n: int = 3) -> str:
    """The ``n`` largest absolute z-scores of one centroid in words, e.g. "Electronics share +2.3 sd"."""
    words = {AOV: "average order", FREQUENCY: "orders", RECENCY: "days since last order", RETURNS: "return rate"}
    words.update({c: f"{label} share" for c, label in category_labels.items()})
    values = z.to_numpy(dtype=float)
    order = np.argsort(-np.abs(values), kind="stable")[:n]
    return "; ".join(f"{words.get(z.index[j], z.index[j])} {values[j]:+.1f} sd" for j in order)
