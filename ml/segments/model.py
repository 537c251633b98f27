"""Fit behavioural segments with K-means, choose k by silhouette, name and profile the segments.

Feature space (``read_segment_features`` columns):

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

Fit and assignment. ``fit_segment_model`` standardises over every customer, fits K-means on a seeded uniform
sample of at most FIT_SAMPLE_ROWS of them (every customer below that; the silhouette then takes its
SILHOUETTE_SAMPLE from the fitted rows), and keeps what assigning needs in a :class:`SegmentModel`: the
standardisation, the weights, the centroids in canonical order and the names. ``assign_segments`` puts every
customer in the segment of the nearest centroid, ASSIGN_CHUNK_ROWS customers at a time: linear in customers,
it is what the daily refresh runs with the week's saved model (registry.py). Centroids z-scores, sizes and
names are measured on the assignment of every customer, not on the fitted sample. ``fit_segments`` does both
on the same customers. DECISIONS.md, "ML at scale", explains the sizes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from ml.progress import step
from ml.segments.features import BEHAVIOUR_COLUMNS, CATEGORY_LABELS_ATTR
from ml.segments.naming import name_segments, top_traits
from ml.warehouse import SHARE_PREFIX, InsufficientDataError

logger = logging.getLogger(__name__)

K_RANGE = range(3, 9)
N_INIT = 10
SILHOUETTE_SAMPLE = 10_000
# Scale (DECISIONS.md, "ML at scale"): customers K-means is fitted on, customers assigned per chunk.
FIT_SAMPLE_ROWS = 50_000
ASSIGN_CHUNK_ROWS = 200_000
FIT_THREADS = 2  # k values fitted side by side: the assets run one at a time on two cores
SILHOUETTE_WORKING_MEMORY_MB = 128
LOG_COLUMNS: tuple[str, ...] = ("average_order_value", "frequency")
REQUIRED_COLUMNS: tuple[str, ...] = ("customer_id", *BEHAVIOUR_COLUMNS, "revenue", "returned_revenue")
AS_OF_COLUMN = "as_of_date"
MODEL_FAMILY = "segments"


@dataclass(frozen=True)
class SegmentResult:
    k: int
    silhouette_scores: dict[int, float]  # every k tried; nan when a fit found fewer than k distinct clusters
    customer_segments: pd.DataFrame  # customer_id, segment_id, segment_name, distance_to_centroid, as_of_date
    segment_profiles: pd.DataFrame  # one row per segment, see profile_segments
    feature_columns: list[str]
    share_weight: float
    seed: int
    silhouette_sample_size: int | None  # None: computed on every customer fitted
    as_of: date | None
    # Segment centroids in (unweighted) z-scores, index segment_id: what the names are based on.
    centroids_z: pd.DataFrame = field(repr=False)
    model: SegmentModel | None = field(default=None, repr=False)  # what assigned the customers

    @property
    def fit_sample_size(self) -> int | None:
        return self.model.fit_rows if self.model is not None else None

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
            "fit_sample_size": self.fit_sample_size,
            "model_version": self.model.version if self.model is not None else None,
            "share_weight": round(self.share_weight, 6),
            "feature_columns": self.feature_columns,
        }


@dataclass(frozen=True)
class SegmentModel:
    """What assigning a customer to a segment needs, JSON-ready (registry.py saves it): see the module docstring.

    ``means`` / ``stds`` standardise ``feature_columns`` (after ``log1p`` of LOG_COLUMNS); ``centroids`` are in
    the weighted space (share columns times ``share_weight``), row s - 1 for segment s; ``names[s - 1]`` its name.
    """

    k: int
    feature_columns: list[str]
    share_columns: list[str]
    means: list[float]
    stds: list[float]
    share_weight: float
    centroids: list[list[float]]
    names: list[str]
    category_labels: dict[str, str]
    silhouette_scores: dict[int, float]
    seed: int
    customers: int  # customers standardised and assigned when it was fitted
    fit_rows: int  # customers K-means was fitted on
    silhouette_sample_size: int | None
    as_of: date | None
    version: str = ""

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["silhouette_scores"] = {str(k): None if math.isnan(v) else v for k, v in self.silhouette_scores.items()}
        data["as_of"] = self.as_of.isoformat() if self.as_of else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentModel:
        values = dict(data)
        values["silhouette_scores"] = {
            int(k): float("nan") if v is None else float(v) for k, v in dict(values["silhouette_scores"]).items()
        }
        values["as_of"] = date.fromisoformat(values["as_of"]) if values.get("as_of") else None
        return cls(**values)

    def fingerprint(self) -> str:
        """sha256 of everything but the version: the same fit gives the same hash."""
        payload = {k: v for k, v in self.to_json().items() if k != "version"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


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


def _transformed(features: pd.DataFrame, feature_columns: list[str]) -> pd.DataFrame:
    x = features[feature_columns].astype("float64")
    logs = [c for c in LOG_COLUMNS if c in feature_columns]
    x[logs] = np.log1p(x[logs])
    return x


def _scaling(x: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(mean, std) of each column over these rows, std 1 for a constant column (its z-scores are all 0)."""
    std = x.std(ddof=0)
    return x.mean(), std.where(std > 0, 1.0)


def standardise(features: pd.DataFrame, feature_columns: list[str]) -> pd.DataFrame:
    """z-scores over these rows (``log1p`` first for ``LOG_COLUMNS``); a constant column becomes 0."""
    x = _transformed(features, feature_columns)
    mean, std = _scaling(x)
    return (x - mean) / std


def _share_weight(z: pd.DataFrame, share_columns: list[str]) -> float:
    varying = int((z[share_columns].std(ddof=0) > 0).sum()) if share_columns else 0
    return math.sqrt(len(BEHAVIOUR_COLUMNS) / varying) if varying else 1.0


def _canonical_order(features: pd.DataFrame, feature_columns: list[str]) -> np.ndarray:
    """Row positions sorted by feature values, then customer_id (input order and ids do not matter)."""
    keys = [features["customer_id"].astype(str).to_numpy()]
    keys += [features[c].to_numpy(dtype=float) for c in reversed(feature_columns)]
    return np.lexsort(keys)


def _fit_k(x: np.ndarray, k: int, seed: int, sample: int | None) -> tuple[KMeans, float]:
    """K-means for one k and its silhouette, on one core (see _fit_all); ConvergenceWarning is the caller's."""
    with threadpool_limits(1):  # OpenMP's limit is per thread: set in the thread that fits
        return _fit_k_here(x, k, seed, sample)


def _fit_k_here(x: np.ndarray, k: int, seed: int, sample: int | None) -> tuple[KMeans, float]:
    model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(x)
    labels = model.labels_
    if len(np.unique(labels)) < k:
        return model, float("nan")
    # sklearn computes the distances in chunks of up to 1 GB by default; a smaller chunk costs no time here.
    with config_context(working_memory=SILHOUETTE_WORKING_MEMORY_MB):
        return model, float(silhouette_score(x, labels, sample_size=sample, random_state=seed))


def _fit_all(x: np.ndarray, ks: list[int], seed: int, sample: int | None, n: int) -> dict[int, tuple[KMeans, float]]:
    """Every k fitted on FIT_THREADS threads, one core each: K-means' own OpenMP threads, started and stopped for
    every iteration, lose to two fits side by side. Each fit is seeded and alone on its thread: the same result."""
    fits: dict[int, tuple[KMeans, float]] = {}
    with warnings.catch_warnings(), ThreadPoolExecutor(FIT_THREADS) as pool, \
            step(logger, f"segments: K-means for k in {ks[0]}..{ks[-1]} on {len(x):,} of {n:,} customers",
                 len(ks), "fits") as progress:
        # Fewer distinct points than k: K-means warns and leaves clusters empty; scored as nan by _fit_k.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k, fit in zip(ks, pool.map(lambda k: _fit_k(x, k, seed, sample), ks), strict=True):
            fits[k] = fit
            logger.info("k=%d: silhouette %.4f, inertia %.1f", k, fit[1], fit[0].inertia_)
            progress.advance()
    return fits


def choose_k(scores: Mapping[int, float]) -> int:
    """Highest silhouette; ties go to the smaller k; nan never wins."""
    valid = {k: s for k, s in scores.items() if not math.isnan(s)}
    if not valid:
        raise InsufficientDataError(f"no k gave k distinct clusters: silhouette scores {dict(scores)}")
    return min(valid, key=lambda k: (-valid[k], k))


def _nearest(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared Euclidean distance) of every row of ``x``; ties to the first."""
    distances = np.column_stack([np.square(x - c).sum(axis=1) for c in centroids])
    return np.argmin(distances, axis=1)


def _fit(
    features: pd.DataFrame,
    k_range: range,
    seed: int,
    category_labels: Mapping[str, str] | None,
    fit_sample_rows: int,
) -> tuple[SegmentModel, pd.DataFrame]:
    """The fitted model and the feature rows in canonical order (module docstring)."""
    _check(features)
    share_columns = sorted(c for c in features.columns if c.startswith(SHARE_PREFIX))
    feature_columns = [*share_columns, *BEHAVIOUR_COLUMNS]
    labels_by_column = _category_labels(features, share_columns, category_labels)
    n = len(features)
    ks = [k for k in k_range if 2 <= k < n]
    if not ks:
        raise InsufficientDataError(f"{n} customers are too few for k in {list(k_range)}")

    rows = features.iloc[_canonical_order(features, feature_columns)].reset_index(drop=True)
    transformed = _transformed(rows, feature_columns)
    mean, std = _scaling(transformed)
    z = (transformed - mean) / std
    weight = _share_weight(z, share_columns)
    x = z.to_numpy(copy=True)
    x[:, : len(share_columns)] *= weight
    if n > fit_sample_rows:
        # Canonical order first, so the sample too depends only on the data.
        x_fit = x[np.sort(np.random.default_rng(seed).choice(n, size=fit_sample_rows, replace=False))]
    else:
        x_fit = x
    sample = SILHOUETTE_SAMPLE if len(x_fit) > SILHOUETTE_SAMPLE else None

    fits = _fit_all(x_fit, ks, seed, sample, n)
    scores = {k: score for k, (_, score) in fits.items()}
    k = choose_k(scores)
    centroids = fits[k][0].cluster_centers_

    # Canonical segment numbers: size (over every customer) descending, then the centroid coordinates.
    raw_labels = _nearest(x, centroids)
    sizes = np.bincount(raw_labels, minlength=k)
    order = np.lexsort([*(centroids[:, j] for j in reversed(range(centroids.shape[1]))), -sizes])
    segment_of_cluster = np.empty(k, dtype=np.int64)
    segment_of_cluster[order] = np.arange(1, k + 1)
    segment = segment_of_cluster[raw_labels]
    ids = pd.Index(range(1, k + 1), name="segment_id")
    centroids_z = z.groupby(segment).mean().reindex(ids)
    spend = _segment_spend_shares(rows, segment, share_columns).reindex(ids, fill_value=0.0)
    names = name_segments(centroids_z, spend, labels_by_column)
    model = SegmentModel(
        k=k,
        feature_columns=feature_columns,
        share_columns=share_columns,
        means=mean.tolist(),
        stds=std.tolist(),
        share_weight=weight,
        centroids=centroids[order].tolist(),
        names=names,
        category_labels=labels_by_column,
        silhouette_scores=scores,
        seed=seed,
        customers=n,
        fit_rows=len(x_fit),
        silhouette_sample_size=sample,
        as_of=_as_of(rows),
    )
    day = model.as_of.isoformat() + "-" if model.as_of else ""
    model = dataclasses.replace(model, version=f"{MODEL_FAMILY}-{day}{model.fingerprint()[:12]}")
    logger.info(
        "chose k=%d of %s (silhouette %s) for %d customers (fitted on %d): %s",
        k, ks, {kk: round(sc, 4) for kk, sc in scores.items()}, n, len(x_fit), names,
    )
    return model, rows


def fit_segment_model(
    features: pd.DataFrame,
    k_range: range = K_RANGE,
    seed: int = 0,
    category_labels: Mapping[str, str] | None = None,
    fit_sample_rows: int = FIT_SAMPLE_ROWS,
) -> SegmentModel:
    """Fit the segments on ``read_segment_features`` rows (module docstring); ``category_labels`` maps share
    columns to display names (default: the frame's ``attrs``, else the column's slug)."""
    return _fit(features, k_range, seed, category_labels, fit_sample_rows)[0]


def assign_segments(model: SegmentModel, features: pd.DataFrame) -> SegmentResult:
    """Every customer of ``features`` in the segment of the nearest centroid of ``model``, and the profiles.

    Share columns the model does not know (a category first sold after the fit) are left out; a share column
    the features lack counts as 0. Linear in customers, ASSIGN_CHUNK_ROWS at a time.
    """
    _check(features)
    n = len(features)
    aligned = features.reindex(columns=[*REQUIRED_COLUMNS, *model.share_columns], fill_value=0.0)
    if AS_OF_COLUMN in features.columns:
        aligned[AS_OF_COLUMN] = features[AS_OF_COLUMN].to_numpy()
    aligned = aligned.reset_index(drop=True)
    z = (_transformed(aligned, model.feature_columns) - np.asarray(model.means)) / np.asarray(model.stds)
    x = z.to_numpy(copy=True)
    x[:, : len(model.share_columns)] *= model.share_weight
    centroids = np.asarray(model.centroids, dtype=float)
    segment = np.empty(n, dtype=np.int64)
    distance = np.empty(n, dtype=float)
    with step(logger, f"segments: assigning to {model.k} segments", n, "customers") as progress:
        for lo in range(0, n, ASSIGN_CHUNK_ROWS):
            chunk = x[lo : lo + ASSIGN_CHUNK_ROWS]
            nearest = _nearest(chunk, centroids)
            segment[lo : lo + len(chunk)] = nearest + 1
            distance[lo : lo + len(chunk)] = np.linalg.norm(chunk - centroids[nearest], axis=1)
            progress.advance(len(chunk))

    name_of_segment = dict(enumerate(model.names, start=1))
    centroids_z = z.groupby(segment).mean().rename_axis("segment_id")
    as_of = _as_of(aligned)
    customer_segments = (
        pd.DataFrame(
            {
                "customer_id": aligned["customer_id"].to_numpy(),
                "segment_id": segment,
                "segment_name": pd.Series(segment).map(name_of_segment).to_numpy(),
                "distance_to_centroid": distance,
                AS_OF_COLUMN: as_of,
            }
        )
        .sort_values("customer_id", kind="stable")
        .reset_index(drop=True)
    )
    profiles = profile_segments(
        aligned, segment, name_of_segment, model.share_columns, model.category_labels, centroids_z
    )
    profiles[AS_OF_COLUMN] = as_of
    logger.info(
        "assigned %d customers to %d segments (%s): %s",
        n, model.k, model.version, dict(zip(profiles["segment_name"], profiles["customers"], strict=True)),
    )
    return SegmentResult(
        k=model.k,
        silhouette_scores=model.silhouette_scores,
        customer_segments=customer_segments,
        segment_profiles=profiles,
        feature_columns=model.feature_columns,
        share_weight=model.share_weight,
        seed=model.seed,
        silhouette_sample_size=model.silhouette_sample_size,
        as_of=as_of,
        centroids_z=centroids_z,
        model=model,
    )


def fit_segments(
    features: pd.DataFrame,
    k_range: range = K_RANGE,
    seed: int = 0,
    category_labels: Mapping[str, str] | None = None,
    fit_sample_rows: int = FIT_SAMPLE_ROWS,
) -> SegmentResult:
    """Fit the segments on ``read_segment_features`` rows and assign those same customers (module docstring)."""
    model, rows = _fit(features, k_range, seed, category_labels, fit_sample_rows)
    return assign_segments(model, rows)


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
