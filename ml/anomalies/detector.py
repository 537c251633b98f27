"""Unsupervised order-anomaly detector: robust z-scores, an isolation forest and plain-language reasons.

Deviations. Every completed sale order gets six one-sided robust z-scores (features.py describes the
inputs): log order amount, log items, log most units of one product, log price ratio to the product's
reference price, hour rarity (``-ln`` of the share of orders placed in that hour) and, for the first order
of an account at most ``new_account_days`` old, its log amount compared with the other such first orders
(0 for every other order). ``z = (x - median) / (1.4826 * MAD)``; when more than half the orders share one
value (the MAD is 0, e.g. most orders pay exactly the list price) the scale falls back to
``1.2533 * mean absolute deviation`` (Iglewicz & Hoaglin's modified z-score). Only excess counts: a small
order, a discount or a busy hour is never suspicious, so negative deviations are clipped to 0. Medians
and MADs ignore a few extreme orders, so the planted or real fraud cannot hide itself by moving the norm.

Score. An ``IsolationForest`` (scikit-learn, ``n_estimators`` trees, ``random_state=seed``: the same data
and seed give the same scores) isolates orders that are far out on one or several deviations at once.
Each tree sees MAX_SAMPLES orders, not scikit-learn's default 256: one-sided deviations are 0 for almost
every ordinary order, so a tree whose sample holds none of the few orders that stand out on, say, the
price ratio cannot split on it, and a single extreme deviation would score like a mildly odd order.
``anomaly_score`` is its anomaly score ``s = 2 ** (-mean path length / c(n))`` times 100: about 50 for an
ordinary order, towards 100 for an order isolated in very few random splits; higher = more anomalous.

Flagging rule. ``is_anomaly`` marks the ``contamination`` share of orders with the highest score
(default 0.5 %: one order in 200). It is a review-capacity choice, not an estimate of the fraud rate: the
detector is a triage queue for a person, and at the sample's volume 0.5 % is about five orders a week.
Scores have no absolute calibration (an isolation score of 0.7 means different things on different data),
so a fixed queue share is easier to reason about than a score cut. The consequence to keep in mind:
precision is at most (true anomaly rate / contamination) and recall at most (contamination / true anomaly
rate), so a shop with far fewer anomalous orders than 0.5 % will see mostly false alarms in the queue;
lower ``contamination`` there.

Reason. The deviations of at least MIN_REASON_Z that at most MAX_REASON_SHARE of all orders reach (the
second condition keeps tied, discrete features honest: 3 units of one product has a robust z above 2 but
is not rare), largest first, at most N_REASONS, in plain words with the order's value and the typical
one, e.g. "unit price 3.2x the product's list price; placed at 03:12 (the 03:00 hour has 0.3 % of orders);
order of 4,312.00 is 71x the typical order (61.08)". A flagged order with no such deviation still gets its
largest one; other orders read "nothing unusual".
"""

from __future__ import annotations

import logging

import duckdb
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from ml.anomalies.features import build_order_features

logger = logging.getLogger(__name__)

DEFAULT_CONTAMINATION = 0.005
NEW_ACCOUNT_DAYS = 7
N_ESTIMATORS = 200
MAX_SAMPLES = 4096  # rows per tree (see the module docstring); all rows when there are fewer
MIN_REASON_Z = 2.0  # a deviation is worth a word from 2 robust standard deviations ...
MAX_REASON_SHARE = 0.05  # ... when at most 1 order in 20 is as far out (discrete counts inflate z-scores)
N_REASONS = 3
PRICE_RATIO_FLOOR = 0.01  # a free item (price 0) would otherwise give log(0)
MAD_TO_SD = 1.4826
MEAN_AD_TO_SD = 1.2533

# Deviation columns, in the order the isolation forest sees them.
DEVIATIONS: tuple[str, ...] = (
    "z_order_amount",
    "z_units",
    "z_max_units_one_product",
    "z_price_ratio",
    "z_hour_rarity",
    "z_new_account_first_order",
)
OUTPUT_COLUMNS: tuple[str, ...] = (
    "order_id",
    "customer_id",
    "ordered_at",
    "order_date",
    "order_amount",
    "anomaly_score",
    "anomaly_rank",
    "is_anomaly",
    "reason",
    "units",
    "products",
    "max_units_one_product",
    "price_ratio",
    "price_reference",
    "order_hour",
    "hour_share",
    "account_age_days",
    "is_first_order",
    "is_new_account_first_order",
    *DEVIATIONS,
)


def robust_z(values: np.ndarray | pd.Series) -> np.ndarray:
    """(x - median) / robust scale, ignoring NaN (which stays NaN); see the module docstring."""
    x = np.asarray(values, dtype=float)
    out = np.full(x.shape, np.nan)
    known = ~np.isnan(x)
    if not known.any():
        return out
    v = x[known]
    center = np.median(v)
    spread = np.abs(v - center)
    scale = MAD_TO_SD * np.median(spread)
    if scale <= 0:
        scale = MEAN_AD_TO_SD * spread.mean()
    out[known] = (v - center) / scale if scale > 0 else 0.0
    return out


def tail_share(values: np.ndarray | pd.Series) -> np.ndarray:
    """Share of all values that are >= each value (1/n for the largest); NaN counts as the smallest."""
    x = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    ordered = np.sort(x)
    return (x.size - np.searchsorted(ordered, x, side="left")) / max(x.size, 1)


def _floats(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype=float, na_value=np.nan)


def deviations(features: pd.DataFrame) -> pd.DataFrame:
    """One-sided robust z-scores (>= 0) of a build_order_features frame, same row order."""
    amount = np.log1p(np.clip(_floats(features["order_amount"]), 0.0, None))
    new_account = features["is_new_account_first_order"].to_numpy(dtype=bool)
    transformed = {
        "z_order_amount": amount,
        "z_units": np.log1p(_floats(features["units"])),
        "z_max_units_one_product": np.log1p(_floats(features["max_units_one_product"])),
        "z_price_ratio": np.log(np.clip(_floats(features["price_ratio"]), PRICE_RATIO_FLOOR, None)),
        "z_hour_rarity": -np.log(_floats(features["hour_share"])),
        "z_new_account_first_order": np.where(new_account, amount, np.nan),
    }
    return pd.DataFrame(
        {name: np.clip(np.nan_to_num(robust_z(values), nan=0.0), 0.0, None) for name, values in transformed.items()},
        index=features.index,
    )


def _times(ratio: str) -> str:
    """SQL: a ratio as '18x' (>= 10) or '3.2x'."""
    return f"case when {ratio} >= 10 then format('{{:.0f}}x', {ratio}) else format('{{:.1f}}x', {ratio}) end"


def _money(value: str) -> str:
    return f"format('{{:,.2f}}', {value})"


# Plain-language text of each deviation (SQL over anomaly_input; $-parameters are the typical values).
_PHRASES: dict[str, str] = {
    "order_amount": (
        f"'order of ' || {_money('order_amount')} || ' is ' || {_times('order_amount / $typical_amount')}"
        f" || ' the typical order (' || {_money('$typical_amount')} || ')'"
    ),
    # Said by max_units_one_product alone when the order holds a single product.
    "units": (
        "case when products > 1 then format('{} items over {} products (typical order: {})', "
        "units, products, $typical_units) end"
    ),
    "max_units_one_product": (
        "format('{} units of one product (typically {})', max_units_one_product, $typical_units_one_product)"
    ),
    "price_ratio": f"'unit price ' || {_times('price_ratio')} || ' the product''s ' || price_reference",
    "hour_rarity": (
        "'placed at ' || strftime(ordered_at, '%H:%M') "
        "|| format(' (the {:02d}:00 hour has {:.1f} % of orders)', order_hour, 100 * hour_share)"
    ),
    "new_account_first_order": (
        "case when is_new_account_first_order then 'first order of ' "
        "|| case when account_age_days = 0 then 'an account opened the same day' "
        "else format('a {}-day-old account', account_age_days) end "
        f"|| ', ' || {_times('order_amount / $typical_first_order')} || ' a new account''s typical first order ('"
        f" || {_money('$typical_first_order')} || ')' end"
    ),
}
_STRUCTS = ",\n            ".join(
    f"{{'z': z_{name}, 'share': share_{name}, 'text': {text}}}" for name, text in _PHRASES.items()
)
_REASON_SQL = f"""
with phrases as (
    select
        order_id,
        is_anomaly,
        list_sort(list_filter([
            {_STRUCTS}
        ], lambda x: x.text is not null), 'DESC') as ranked
    from anomaly_input
)
select
    order_id,
    coalesce(
        nullif(array_to_string(list_transform(
            list_filter(ranked, lambda x: x.z >= $min_z and x.share <= $max_share)[1:$n], lambda x: x.text
        ), '; '), ''),
        case when is_anomaly then ranked[1].text end,
        'nothing unusual'
    ) as reason
from phrases
"""


def _typical(values: pd.Series, mask: np.ndarray | None = None) -> float:
    v = _floats(values)
    if mask is not None:
        v = v[mask]
    v = v[~np.isnan(v)]
    return float(np.median(v)) if v.size else float("nan")


def _reasons(frame: pd.DataFrame) -> pd.Series:
    """Reason text per row of frame (features + deviations + is_anomaly), aligned on its index."""
    new_account = frame["is_new_account_first_order"].to_numpy(dtype=bool)
    params = {
        "typical_amount": _typical(frame["order_amount"]),
        "typical_units": round(_typical(frame["units"])),
        "typical_units_one_product": round(_typical(frame["max_units_one_product"])),
        "typical_first_order": _typical(frame["order_amount"], new_account) if new_account.any() else 0.0,
        "min_z": MIN_REASON_Z,
        "max_share": MAX_REASON_SHARE,
        "n": N_REASONS,
    }
    columns = ["order_id", "is_anomaly", "order_amount", "units", "products", "max_units_one_product", "price_ratio",
               "price_reference", "ordered_at", "order_hour", "hour_share", "account_age_days",
               "is_new_account_first_order", *DEVIATIONS]
    shares = pd.DataFrame({name.replace("z_", "share_", 1): tail_share(frame[name]) for name in DEVIATIONS},
                          index=frame.index)
    with duckdb.connect() as con:
        con.register("anomaly_input", pd.concat([frame[columns], shares], axis=1))
        reasons = con.execute(_REASON_SQL, params).df()
    return frame[["order_id"]].merge(reasons, on="order_id", how="left")["reason"].set_axis(frame.index)


def score_orders(features: pd.DataFrame, *, contamination: float = DEFAULT_CONTAMINATION,
                 n_estimators: int = N_ESTIMATORS, seed: int = 0) -> pd.DataFrame:
    """Deviations, isolation-forest score, flag and reason for a build_order_features frame.

    Rows come back sorted by anomaly_score (highest first), then order_id; anomaly_rank is 1 for the
    most anomalous order.
    """
    if not 0.0 < contamination <= 0.5:
        raise ValueError("contamination must be within (0, 0.5]")
    frame = features.sort_values("order_id", kind="stable").reset_index(drop=True)
    z = deviations(frame)
    frame = pd.concat([frame, z], axis=1)
    if frame.empty:
        frame["anomaly_score"] = pd.Series(dtype=float)
        frame["is_anomaly"] = pd.Series(dtype=bool)
        frame["anomaly_rank"] = pd.Series(dtype="int64")
        frame["reason"] = pd.Series(dtype=str)
        return frame[list(OUTPUT_COLUMNS)]
    x = z[list(DEVIATIONS)].to_numpy(dtype=float)
    forest = IsolationForest(n_estimators=n_estimators, max_samples=min(MAX_SAMPLES, len(frame)),
                             contamination=contamination, random_state=seed)
    forest.fit(x)
    frame["anomaly_score"] = np.round(-forest.score_samples(x) * 100.0, 2)
    frame["is_anomaly"] = forest.predict(x) == -1
    frame["reason"] = _reasons(frame)
    frame = frame.sort_values(["anomaly_score", "order_id"], ascending=[False, True], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["anomaly_rank"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    logger.info("scored %d sale orders, flagged %d (contamination %.4f)", len(frame),
                int(frame["is_anomaly"].sum()), contamination)
    return frame[list(OUTPUT_COLUMNS)]


def detect_order_anomalies(con: duckdb.DuckDBPyConnection, *, contamination: float = DEFAULT_CONTAMINATION,
                           new_account_days: int = NEW_ACCOUNT_DAYS, n_estimators: int = N_ESTIMATORS,
                           seed: int = 0) -> pd.DataFrame:
    """Score every completed sale order of the built warehouse behind ``con`` (see the module docstring).

    Returns one row per sale order (OUTPUT_COLUMNS): ids and timestamps, order_amount, anomaly_score
    (0-100, higher = more anomalous), anomaly_rank, is_anomaly, reason, the feature values and the
    one-sided robust z-scores. Deterministic for a given warehouse and seed.
    """
    features = build_order_features(con, new_account_days=new_account_days)
    return score_orders(features, contamination=contamination, n_estimators=n_estimators, seed=seed)
