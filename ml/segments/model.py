"""Fit behavioural segments with K-means, choose k by silhouette, name and profile the segments.

Feature space (``build_segment_features`` columns):

* average order value and frequency are ``log1p``-transformed (money and counts are heavy-tailed: one
  customer with 90 orders would otherwise pull a cluster of their own); recency (bounded by the history,
  and ``log1p`` would make "ordered today" an outlier against "a month ago") and return rate (a share) stay
  linear; spend shares stay linear;
* every column is standardised to z-scores over the customers fitted (a constant column is all 0);
* the spend-share block is weighted so that its total variance equals the behaviour block's: each share
  column is multiplied by ``sqrt(behaviour columns / varying share columns)`` (sqrt(4 / 8) on the sample).
  With equal weights eight share columns against four behaviours would let the spend mix decide alone
  (the more categories, the less frequency, recency, basket size and returns would count).

K-means (scikit-learn, k-means++ with ``N_INIT`` starts, ``random_state=seed``) is fitted for every k of
``k_range``; the silhouette of each fit is measured on the same weighted space, on a fixed random sample of
``SILHOUETTE_SAMPLE`` customers when there are more (the full score is quadratic in customers). The best
silhouette wins; ties go to the smaller k. All scores are returned for the run's metadata.

Determinism: rows are sorted by their feature values (then customer_id) before fitting, so the result depends
only on the data, not on the input row order or on how customers are labelled. Segments are numbered 1..k in a
canonical order (size descending, then centroid coordinates), never by K-means' arbitrary cluster numbers,
and named by ``ml.segments.naming``.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

from ml.segments.features import BEHAVIOUR_COLUMNS, CATEGORY_LABELS_ATTR, SHARE_PREFIX
from ml.segments.naming import name_segments, top_traits
from ml.warehouse import InsufficientDataError

logger = logging.getLogger(__name__)

K_RANGE = range(3, 9)
N_INIT = 10
SILHOUETTE_SAMPLE = 10_000
SILHOUETTE_WORKING_MEMORY_MB = 128
LOG_COLUMNS: tuple[str, ...] = ("average_order_value", "frequency")
REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", *BEHAVIOUR_COLUMNS, "revenue", "returned_revenue")
AS_OF_COLUMN = "as_of_date"


@dataclass(frozen=True)
class SegmentResult:
    k: int
    silhouette_scores: dict[int, float]  # every k tried; nan when a fit found fewer than k distinct clusters
    customer_segments: pd.DataFrame  # customer_id, segment_id, segment_name, distance_to_centroid, as_of_date
    segment_profiles: pd.DataFrame  # one row per segment, see profile_segments
    feature_columns: list[str]
    share_weight: float
    seed: int
    silhouette_sample_size: int | None  # None: computed on every customer
    as_of: date | None
    # Segment centroids in (unweighted) z-scores, index segment_id: what the names are based on.
    centroids_z: pd.DataFrame = field(repr=False)

    def metadata(self) -> dict[str, object]:
        """JSON-ready run facts: chosen k, silhouette per k (nan as None), segment names and sizes, settings."""
        return {
            "k": self.k,
            "silhouette_scores": {
                str(k): None if math.isnan(s) else round(s, 6) for k, s in self.silhouette_scores.items()
            },
            "segments": dict(
                zip(self.segment_profiles["segment_name"], self.segment_profiles["customers"].tolist(), strict=True)
            ),
            "customers": len(self.customer_segments),
            "as_of_date": self.as_of.isoformat() if self.as_of else None,
            "seed": self.seed,
            "n_init": N_INIT,
            "silhouette_sample_size": self.silhouette_sample_size,
            "share_weight": round(self.share_weight, 6),
            "feature_columns": self.feature_columns,
        }


def _category_labels(
    features: pd.DataFrame, share_columns: list[str], given: Mapping[str, str] | None
) -> dict[str, str]:
    known = dict(given) if given is not None else dict(features.attrs.get(CATEGORY_LABELS_ATTR, {}))
    return {c: known.get(c, c.removeprefix(SHARE_PREFIX).replace("_", " ").capitalize()) for c in share_columns}


def _check(features: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"features lack columns {missing}")
    if features["customer_id"].duplicated().any():
        raise ValueError("features must have one row per customer_id")
    values = features[[c for c in features.columns if c.startswith(SHARE_PREFIX)] + list(BEHAVIOUR_COLUMNS)]
    if values.isna().to_numpy().any():
        raise ValueError("features contain nulls")


def standardise(features: pd.DataFrame, feature_columns: list[str]) -> pd.DataFrame:
    """z-scores over these rows (``log1p`` first for ``LOG_COLUMNS``); a constant column becomes 0."""
    x = features[feature_columns].astype("float64")
    logs = [c for c in LOG_COLUMNS if c in feature_columns]
    x[logs] = np.log1p(x[logs])
    std = x.std(ddof=0)
    return (x - x.mean()) / std.where(std > 0, 1.0)


def _share_weight(z: pd.DataFrame, share_columns: list[str]) -> float:
    varying = int((z[share_columns].std(ddof=0) > 0).sum()) if share_columns else 0
    return math.sqrt(len(BEHAVIOUR_COLUMNS) / varying) if varying else 1.0


def _canonical_order(features: pd.DataFrame, feature_columns: list[str]) -> np.ndarray:
    """Row positions sorted by feature values, then customer_id (input order and ids do not matter)."""
    keys = [features["customer_id"].astype(str).to_numpy()]
    keys += [features[c].to_numpy(dtype=float) for c in reversed(feature_columns)]
    return np.lexsort(keys)


def _fit_k(x: np.ndarray, k: int, seed: int, sample: int | None) -> tuple[KMeans, float]:
    with warnings.catch_warnings():
        # Fewer distinct points than k: K-means warns and leaves clusters empty; scored as nan below.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x)
    labels = model.labels_
    if len(np.unique(labels)) < k:
        return model, float("nan")
    # sklearn computes the distances in chunks of up to 1 GB by default; a smaller chunk costs no time here.
    with config_context(working_memory=SILHOUETTE_WORKING_MEMORY_MB):
        return model, float(silhouette_score(x, labels, sample_size=sample, random_state=seed))


def choose_k(scores: Mapping[int, float]) -> int:
    """Highest silhouette; ties go to the smaller k; nan never wins."""
    valid = {k: s for k, s in scores.items() if not math.isnan(s)}
    if not valid:
        raise InsufficientDataError(f"no k gave k distinct clusters: silhouette scores {dict(scores)}")
    return min(valid, key=lambda k: (-valid[k], k))


def fit_segments(
    features: pd.DataFrame,
    k_range: range = K_RANGE,
    seed: int = 0,
    category_labels: Mapping[str, str] | None = None,
) -> SegmentResult:
    """Cluster ``build_segment_features`` rows; see the module docstring. ``category_labels`` maps share columns
    to display names (default: the frame's ``attrs``, else the column's slug)."""
    _check(features)
    share_columns = sorted(c for c in features.columns if c.startswith(SHARE_PREFIX))
    feature_columns = [*share_columns, *BEHAVIOUR_COLUMNS]
    labels_by_column = _category_labels(features, share_columns, category_labels)
    n = len(features)
    ks = [k for k in k_range if 2 <= k < n]
    if not ks:
        raise InsufficientDataError(f"{n} customers are too few for k in {list(k_range)}")

    rows = features.iloc[_canonical_order(features, feature_columns)].reset_index(drop=True)
    z = standardise(rows, feature_columns)
    weight = _share_weight(z, share_columns)
    x = z.to_numpy(copy=True)
    x[:, : len(share_columns)] *= weight
    sample = SILHOUETTE_SAMPLE if n > SILHOUETTE_SAMPLE else None

    models: dict[int, KMeans] = {}
    scores: dict[int, float] = {}
    for k in ks:
        models[k], scores[k] = _fit_k(x, k, seed, sample)
        logger.info("k=%d: silhouette %.4f, inertia %.1f", k, scores[k], models[k].inertia_)
    k = choose_k(scores)
    model = models[k]

    # Canonical segment numbers: size descending, then the centroid coordinates.
    raw_labels = model.labels_
    sizes = np.bincount(raw_labels, minlength=k)
    centroids = model.cluster_centers_
    order = np.lexsort([*(centroids[:, j] for j in reversed(range(centroids.shape[1]))), -sizes])
    segment_of_cluster = np.empty(k, dtype=np.int64)
    segment_of_cluster[order] = np.arange(1, k + 1)
    segment = segment_of_cluster[raw_labels]
    distance = np.linalg.norm(x - centroids[raw_labels], axis=1)

    centroids_z = z.groupby(segment).mean().rename_axis("segment_id")
    spend = _segment_spend_shares(rows, segment, share_columns)
    names = name_segments(centroids_z, spend, labels_by_column)
    name_of_segment = dict(zip(centroids_z.index, names, strict=True))

    as_of = _as_of(rows)
    customer_segments = (
        pd.DataFrame(
            {
                "customer_id": rows["customer_id"].to_numpy(),
                "segment_id": segment,
                "segment_name": pd.Series(segment).map(name_of_segment).to_numpy(),
                "distance_to_centroid": distance,
                AS_OF_COLUMN: as_of,
            }
        )
        .sort_values("customer_id", kind="stable")
        .reset_index(drop=True)
    )
    profiles = profile_segments(rows, segment, name_of_segment, share_columns, labels_by_column, centroids_z)
    profiles[AS_OF_COLUMN] = as_of
    logger.info(
        "chose k=%d of %s (silhouette %s) for %d customers: %s",
        k,
        ks,
        {kk: round(s, 4) for kk, s in scores.items()},
        n,
        dict(zip(profiles["segment_name"], profiles["customers"], strict=True)),
    )
    return SegmentResult(
        k=k,
        silhouette_scores=scores,
        customer_segments=customer_segments,
        segment_profiles=profiles,
        feature_columns=feature_columns,
        share_weight=weight,
        seed=seed,
        silhouette_sample_size=sample,
        as_of=as_of,
        centroids_z=centroids_z,
    )


def _as_of(rows: pd.DataFrame) -> date | None:
    """The features' as-of date as a ``datetime.date`` (written as DATE, like the marts), None when absent."""
    if AS_OF_COLUMN not in rows.columns or rows[AS_OF_COLUMN].isna().all():
        return None
    values = pd.to_datetime(rows[AS_OF_COLUMN]).dropna().unique()
    if len(values) != 1:
        raise ValueError(f"features mix several as-of dates: {sorted(values)[:3]}")
    return pd.Timestamp(values[0]).date()


def _segment_spend_shares(rows: pd.DataFrame, segment: np.ndarray, share_columns: list[str]) -> pd.DataFrame:
    """Per segment: revenue in each category / segment revenue (share x revenue recovers category revenue)."""
    revenue = rows["revenue"].to_numpy(dtype=float)
    by_category = pd.DataFrame(rows[share_columns].to_numpy(dtype=float) * revenue[:, None], columns=share_columns)
    spend = by_category.groupby(segment).sum()
    total = pd.Series(revenue).groupby(segment).sum()
    return spend.div(total.where(total > 0), axis=0).fillna(0.0)


def _pct(values: pd.Series) -> pd.Series:
    """Whole percent ("18 %"); a positive share that rounds to 0 reads "<1 %"."""
    whole = (values * 100).round().astype("int64")
    return pd.Series(np.where((whole == 0) & (values > 0), "<1", whole.astype(str)), index=values.index) + " %"


def profile_segments(
    rows: pd.DataFrame,
    segment: np.ndarray,
    name_of_segment: Mapping[int, str],
    share_columns: list[str],
    category_labels: Mapping[str, str],
    centroids_z: pd.DataFrame,
) -> pd.DataFrame:
    """One row per segment in business units.

    customers and customer_share; revenue (completed sales) and revenue_share; average_order_value = revenue /
    orders; orders_per_customer; recency_days_median; return_rate = returned / (revenue + returned);
    top_category and top_category_share (of the segment's revenue); distinguishing_traits (largest centroid
    z-scores); description (one sentence). Money is rounded to the cent, shares are unrounded fractions.
    """
    frame = pd.DataFrame(
        {
            "segment_id": segment,
            "revenue": rows["revenue"].to_numpy(dtype=float),
            "returned": rows["returned_revenue"].to_numpy(dtype=float),
            "orders": rows["frequency"].to_numpy(dtype=float),
            "recency": rows["recency_days"].to_numpy(dtype=float),
        }
    )
    grouped = frame.groupby("segment_id")
    agg = grouped.agg(
        customers=("revenue", "size"),
        revenue=("revenue", "sum"),
        returned=("returned", "sum"),
        orders=("orders", "sum"),
        recency_days_median=("recency", "median"),
    )
    total_revenue = agg["revenue"].sum()
    out = pd.DataFrame(index=agg.index)
    out["segment_name"] = out.index.map(name_of_segment)
    out["customers"] = agg["customers"].astype("int64")
    out["customer_share"] = agg["customers"] / agg["customers"].sum()
    out["revenue"] = agg["revenue"].round(2)
    out["revenue_share"] = agg["revenue"] / total_revenue if total_revenue > 0 else 0.0
    out["average_order_value"] = (agg["revenue"] / agg["orders"]).round(2)
    out["orders_per_customer"] = agg["orders"] / agg["customers"]
    out["recency_days_median"] = agg["recency_days_median"]
    bought = agg["revenue"] + agg["returned"]
    out["return_rate"] = (agg["returned"] / bought.where(bought > 0)).fillna(0.0)
    spend = _segment_spend_shares(rows, segment, share_columns)
    if share_columns:
        top = spend.idxmax(axis=1)
        out["top_category"] = top.map(category_labels)
        out["top_category_share"] = spend.max(axis=1)
    else:
        out["top_category"] = None
        out["top_category_share"] = float("nan")
    out["distinguishing_traits"] = [top_traits(centroids_z.loc[s], category_labels) for s in out.index]
    out["description"] = (
        out["customers"].astype(str)
        + " customers, "
        + _pct(out["revenue_share"])
        + " of revenue, average order "
        + out["average_order_value"].map("{:.2f}".format)
        + ", "
        + out["orders_per_customer"].map("{:.1f}".format)
        + " orders per customer, last order "
        + out["recency_days_median"].round().astype("int64").astype(str)
        + " days ago (median), "
        + _pct(out["return_rate"])
        + " of purchases returned"
        + (", " + _pct(out["top_category_share"]) + " of spend on " + out["top_category"] if share_columns else "")
    )
    return out.reset_index()
