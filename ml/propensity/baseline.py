"""The RFM baseline the propensity model must beat and the rule that decides which of the two is published
(DECISIONS.md: Never publish a loser). The label window that follows the shop's rhythm is planned by dbt
(feat_propensity__cutoffs; DECISIONS.md: Label window, Propensity cutoff plan).

The baseline ranks customers by recency + frequency + monetary quintile points (each 1-5, 5 = best). The
quintile cut points are fitted on the evaluation window's customers, so the same points apply to any later
row (a file of five leads included); the points' observed buyer rates on that window, made monotone by
isotonic regression, turn them into a probability, so a published baseline score reads like the model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

RFM_COLUMNS: tuple[str, ...] = ("days_since_last_order", "orders_365d", "revenue_365d")
MISSING_DAYS = 9999.0  # "never happened" for the days_since_* columns (an is-missing flag stands beside them)
QUINTILES = (0.2, 0.4, 0.6, 0.8)

MODEL_SCORER = "propensity_model"
BASELINE_SCORER = "rfm_baseline"
# The model is published only when its evaluation ROC AUC exceeds the baseline's by at least MIN_AUC_MARGIN and by
# Z_ONE_SIDED standard errors of the difference (a one-sided 95 % test, Hanley & McNeil's standard error of each AUC,
# combined as if independent: conservative, since both rank the same customers).
MIN_AUC_MARGIN = 0.01
Z_ONE_SIDED = 1.645

# The shortest label window (feat_propensity__cutoffs: the median gap between orders, rounded up to whole 30 days,
# 30 to 180): the horizon a model saved without one is read with.
MIN_HORIZON_DAYS = 30


@dataclass(frozen=True)
class RfmBaseline:
    """Fitted on one population: quintile cut points per RFM input and the buyer rate of each points total."""

    recency_cuts: tuple[float, ...]
    frequency_cuts: tuple[float, ...]
    monetary_cuts: tuple[float, ...]
    points: tuple[int, ...]  # 3..15
    probability: tuple[float, ...]  # aligned with points

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """Points total (3..15) of every row of a build_features frame."""
        recency, frequency, monetary = rfm_inputs(features)
        # Fewer days since the last order is better: a gap above every cut point scores 1.
        r = 5 - np.searchsorted(np.asarray(self.recency_cuts), recency, side="left")
        f = 1 + np.searchsorted(np.asarray(self.frequency_cuts), frequency, side="right")
        m = 1 + np.searchsorted(np.asarray(self.monetary_cuts), monetary, side="right")
        return (r + f + m).astype(int)

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        lookup = dict(zip(self.points, self.probability, strict=True))
        return np.array([lookup[p] for p in range(3, 16)])[self.score(features) - 3]


def rfm_inputs(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        features["days_since_last_order"].astype("float64").fillna(MISSING_DAYS).to_numpy(),
        features["orders_365d"].astype("float64").fillna(0.0).to_numpy(),
        features["revenue_365d"].astype("float64").fillna(0.0).to_numpy(),
    )


def _cuts(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.quantile(values, QUINTILES)) if len(values) else (0.0,) * len(QUINTILES)


def fit_rfm_baseline(features: pd.DataFrame, labels: np.ndarray) -> RfmBaseline:
    """Cut points from ``features`` (the evaluation window's customers), buyer rates from their ``labels``."""
    # Imported here: the Dagster definitions import this module's constants, and scikit-learn costs ~1 s to load.
    from sklearn.isotonic import IsotonicRegression

    recency, frequency, monetary = rfm_inputs(features)
    unfitted = RfmBaseline(_cuts(recency), _cuts(frequency), _cuts(monetary), (), ())
    points = unfitted.score(features)
    grid = np.arange(3, 16)
    if len(points):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        probability = iso.fit(points, np.asarray(labels, dtype=float)).predict(grid)
    else:
        probability = np.zeros(len(grid))
    return RfmBaseline(
        unfitted.recency_cuts, unfitted.frequency_cuts, unfitted.monetary_cuts,
        tuple(int(p) for p in grid), tuple(float(p) for p in probability),
    )


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982): the standard error of an ROC AUC from its value and the class counts."""
    if positives < 1 or negatives < 1 or not math.isfinite(auc):
        return math.inf
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (
        positives * negatives
    )
    return math.sqrt(max(variance, 0.0))


@dataclass(frozen=True)
class ScorerChoice:
    scorer: str  # MODEL_SCORER or BASELINE_SCORER
    required_margin: float  # ROC AUC points the model had to gain over the baseline
    reason: str


def choose_scorer(metrics: dict[str, float], baseline_metrics: dict[str, float]) -> ScorerChoice:
    """Publish the model only when it beats the baseline on the evaluation window by the margin (module constants)."""
    auc, baseline = metrics.get("roc_auc", math.nan), baseline_metrics.get("roc_auc", math.nan)
    n, rate = metrics.get("n", 0.0), metrics.get("positive_rate", math.nan)
    positives = round(n * rate) if math.isfinite(rate) else 0
    negatives = round(n) - positives
    spread = math.hypot(auc_standard_error(auc, positives, negatives),
                        auc_standard_error(baseline, positives, negatives))
    margin = max(MIN_AUC_MARGIN, Z_ONE_SIDED * spread)
    if not (math.isfinite(auc) and math.isfinite(baseline)):
        return ScorerChoice(BASELINE_SCORER, margin, "the evaluation window has a single class: no ROC AUC to compare")
    gain = auc - baseline
    said = f"ROC AUC {auc:.3f} vs {baseline:.3f} for the RFM baseline ({gain:+.3f}; at least +{margin:.3f} needed)"
    if gain >= margin:
        return ScorerChoice(MODEL_SCORER, margin, f"the model beats the RFM baseline: {said}")
    return ScorerChoice(BASELINE_SCORER, margin, f"the model does not beat the RFM baseline: {said}")
