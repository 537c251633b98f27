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

Scale. Nothing holds every order in Python: the features are the dbt table ``features.feat_anomalies__orders``
(features.py), read through DuckDB's relation API, in order_id order wherever the order matters (the scales'
means, the forest's fit), and in Arrow batches of CHUNK_ROWS orders for the deviations, which are written to a
temporary table keyed by order_id. The medians and scales are computed over every order, one column at a
time; the forest is fitted on a seeded uniform sample of at most FIT_SAMPLE_ROWS orders (each tree only ever
sees MAX_SAMPLES of them, so a larger pool changes nothing but the memory it takes). A score depends on the
deviation vector alone, and ordinary orders share few of them (most deviations are 0; amounts, counts and
hours repeat: 124,000 distinct vectors for 445,000 orders at a million order lines), so each distinct vector
is scored once, in chunks on SCORING_THREADS threads, and joined back to its orders. The flagging cut (the
``contamination`` quantile of the scores) and the tail shares of the reasons count every order. Below
FIT_SAMPLE_ROWS orders the forest sees them all: the results are those of scoring every order one by one
(DECISIONS.md, "ML at scale").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.ensemble import IsolationForest

from ml.anomalies.features import ORDER_KEY, order_features
from ml.progress import step
from ml.warehouse import ML_SCHEMA, replace_table_from_query, scalar

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
# Scale (DECISIONS.md, "ML at scale"): the forest's fitting pool, the orders per chunk, threads scoring a chunk.
FIT_SAMPLE_ROWS = 250_000
CHUNK_ROWS = 200_000
SCORING_THREADS = 2

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
TABLE = "order_anomalies"
TABLE_CASTS = {"order_amount": "decimal(18,2)"}  # money as the marts keep it
_FEATURES_VIEW = "_anomaly_features"  # the orders' features, a temporary view on the connection (register)
_DEVIATIONS_TABLE = "_anomaly_deviations"  # order_id and the six deviations of every order
_VECTORS_TABLE = "_anomaly_vectors"  # each distinct deviation vector once: vid, deviations, orders, scores
_CHUNK_VIEW = "_anomaly_chunk"
_TEMPORARY = (_DEVIATIONS_TABLE, _VECTORS_TABLE)
# The deviations' inputs as floats (NaN for null), read from the features.
_INPUTS: dict[str, str] = {
    "order_amount": "coalesce(order_amount, 'nan'::double)",
    "units": "coalesce(cast(units as double), 'nan'::double)",
    "max_units_one_product": "coalesce(cast(max_units_one_product as double), 'nan'::double)",
    "price_ratio": "coalesce(price_ratio, 'nan'::double)",
    "hour_share": "coalesce(hour_share, 'nan'::double)",
    "new_account": "coalesce(is_new_account_first_order, false)",
}


@dataclass(frozen=True)
class AnomalySummary:
    """What a run wrote: counts for the asset's metadata."""

    rows: int
    flagged: int
    flagged_amount: float
    top_reasons: list[str] = field(default_factory=list)
    fit_rows: int = 0


def robust_scale(values: np.ndarray | pd.Series) -> tuple[float, float]:
    """(median, robust scale) of the non-NaN values; the scale is 0 when they cannot be spread (see robust_z)."""
    x = np.asarray(values, dtype=float)
    v = x[~np.isnan(x)]
    if not v.size:
        return float("nan"), 0.0
    center = np.median(v)
    spread = np.abs(v - center)
    scale = MAD_TO_SD * np.median(spread)
    if scale <= 0:
        scale = MEAN_AD_TO_SD * spread.mean()
    return float(center), float(scale)


def _standardise(x: np.ndarray, center: float, scale: float) -> np.ndarray:
    if scale > 0:
        return (x - center) / scale
    return np.where(np.isnan(x), np.nan, 0.0)


def robust_z(values: np.ndarray | pd.Series) -> np.ndarray:
    """(x - median) / robust scale, ignoring NaN (which stays NaN); see the module docstring."""
    x = np.asarray(values, dtype=float)
    return _standardise(x, *robust_scale(x))


def tail_share(values: np.ndarray | pd.Series) -> np.ndarray:
    """Share of all values that are >= each value (1/n for the largest); NaN counts as the smallest."""
    x = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    ordered = np.sort(x)
    return (x.size - np.searchsorted(ordered, x, side="left")) / max(x.size, 1)


def _log_amount(inputs: dict[str, np.ndarray]) -> np.ndarray:
    return np.log1p(np.clip(inputs["order_amount"], 0.0, None))


# Each deviation's transform (module docstring) and the inputs it reads; NaN where undefined.
_TRANSFORMS: dict[str, tuple[tuple[str, ...], Callable[[dict[str, np.ndarray]], np.ndarray]]] = {
    "z_order_amount": (("order_amount",), _log_amount),
    "z_units": (("units",), lambda i: np.log1p(i["units"])),
    "z_max_units_one_product": (("max_units_one_product",), lambda i: np.log1p(i["max_units_one_product"])),
    "z_price_ratio": (("price_ratio",), lambda i: np.log(np.clip(i["price_ratio"], PRICE_RATIO_FLOOR, None))),
    "z_hour_rarity": (("hour_share",), lambda i: -np.log(i["hour_share"])),
    "z_new_account_first_order": (
        ("order_amount", "new_account"), lambda i: np.where(i["new_account"], _log_amount(i), np.nan)
    ),
}


def _transformed(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: transform(inputs) for name, (_, transform) in _TRANSFORMS.items()}


def _deviation_matrix(inputs: dict[str, np.ndarray], params: dict[str, tuple[float, float]]) -> np.ndarray:
    """One-sided robust z-scores (rows x DEVIATIONS, >= 0) with the given (median, scale) per column."""
    transformed = _transformed(inputs)
    return np.column_stack([
        np.clip(np.nan_to_num(_standardise(transformed[name], *params[name]), nan=0.0), 0.0, None)
        for name in DEVIATIONS
    ])


def _frame_inputs(features: pd.DataFrame) -> dict[str, np.ndarray]:
    inputs = {name: features[name].to_numpy(dtype=float, na_value=np.nan) for name in _INPUTS if name != "new_account"}
    inputs["new_account"] = features["is_new_account_first_order"].fillna(False).to_numpy(dtype=bool)
    return inputs


def deviations(features: pd.DataFrame) -> pd.DataFrame:
    """One-sided robust z-scores (>= 0) of a build_order_features frame, same row order."""
    inputs = _frame_inputs(features)
    params = {name: robust_scale(values) for name, values in _transformed(inputs).items()}
    return pd.DataFrame(_deviation_matrix(inputs, params), columns=list(DEVIATIONS), index=features.index)


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
_ANY_REASON = " or ".join(
    f"(z_{name} >= $min_z and share_{name} <= $max_share)" for name in _PHRASES
)
# Share of all orders at or above each value of a deviation, from the distinct values and their order counts.
_SHARE_CTES = ",\n".join(
    f"""shares_{name} as (
    select z_{name}, sum(orders) over (order by z_{name} desc)::double / $orders as share_{name}
    from (select z_{name}, sum(orders) as orders from {_VECTORS_TABLE} group by all)
)"""
    for name in _PHRASES
)
_SHARE_JOINS = "\n    ".join(f"left join shares_{name} using (z_{name})" for name in _PHRASES)
_VECTOR_JOIN = " and ".join(f"d.{name} = v.{name}" for name in DEVIATIONS)
# Every order with its deviations, its vector's score and flag, the tail share of each deviation (ties count as
# reached), the reason (phrased only for the orders that get one) and the rank; OUTPUT_COLUMNS in order.
_RESULT_SQL = f"""
with {_SHARE_CTES},

scored as (
    select f.*, d.* exclude (order_id), v.anomaly_score, v.raw_score < $offset as is_anomaly
    from {_FEATURES_VIEW} as f
    inner join {_DEVIATIONS_TABLE} as d using (order_id)
    inner join {_VECTORS_TABLE} as v on {_VECTOR_JOIN}
),

shared as (
    select *
    from scored
    {_SHARE_JOINS}
),

phrases as (
    select
        order_id,
        is_anomaly,
        list_sort(list_filter([
            {_STRUCTS}
        ], lambda x: x.text is not null), 'DESC') as ranked
    from shared
    where is_anomaly or {_ANY_REASON}
),

ranks as (
    -- on the narrow columns only: sorting every column of every order would cost a multiple
    select d.order_id, row_number() over (order by v.anomaly_score desc, d.order_id) as anomaly_rank
    from {_DEVIATIONS_TABLE} as d
    inner join {_VECTORS_TABLE} as v on {_VECTOR_JOIN}
),

reasons as (
    select
        order_id,
        coalesce(
            nullif(array_to_string(list_transform(
                list_filter(ranked, lambda x: x.z >= $min_z and x.share <= $max_share)[1:$n], lambda x: x.text
            ), '; '), ''),
            case when is_anomaly then ranked[1].text end
        ) as reason
    from phrases
)

select
    order_id, customer_id, ordered_at, order_date, order_amount, anomaly_score, anomaly_rank,
    is_anomaly,
    coalesce(reasons.reason, 'nothing unusual') as reason,
    units, products, max_units_one_product, price_ratio, price_reference, order_hour, hour_share,
    account_age_days, is_first_order, is_new_account_first_order,
    {", ".join(DEVIATIONS)}
from shared
inner join ranks using (order_id)
left join reasons using (order_id)
"""
_RANKED_SQL = _RESULT_SQL + "order by anomaly_rank\n"  # a frame in rank order; the table needs no order


def _typical(values: np.ndarray) -> float:
    v = values[~np.isnan(values)]
    return float(np.median(v)) if v.size else float("nan")


def _select(columns: tuple[str, ...]) -> str:
    return ", ".join(f"{_INPUTS[c]} as {c}" for c in columns)


def _read(orders: duckdb.DuckDBPyRelation, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Deviation inputs of every order, in order_id order (a fixed order: a mean's last bit and the forest's fit
    depend on it)."""
    return orders.order(ORDER_KEY).project(_select(columns)).fetchnumpy()


def _batches(orders: duckdb.DuckDBPyRelation, columns: tuple[str, ...], *, ordered: bool,
             with_key: bool = False) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row, Arrow batch of at most CHUNK_ROWS orders) of the deviation inputs (and order_id: ``with_key``),
    in order_id order when ``ordered``, else as the table is scanned (no sort)."""
    relation = orders.order(ORDER_KEY) if ordered else orders
    select = (f"{ORDER_KEY}, " if with_key else "") + _select(columns)
    lo = 0
    for batch in relation.project(select).to_arrow_reader(CHUNK_ROWS):
        yield lo, batch
        lo += batch.num_rows


def _numpy(batch: pa.RecordBatch, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    # The inputs are coalesced to NaN / false: no nulls, so no masked arrays.
    return {c: batch.column(c).to_numpy(zero_copy_only=False) for c in columns}


def _parameters(orders: duckdb.DuckDBPyRelation) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    """(median, scale) of every deviation over all orders and the typical values the reasons quote.

    One deviation at a time, so at most two columns of every order are in memory at once.
    """
    params: dict[str, tuple[float, float]] = {}
    for name, (columns, transform) in _TRANSFORMS.items():
        params[name] = robust_scale(transform(_read(orders, columns)))
    inputs = _read(orders, ("order_amount", "new_account"))
    amount, new_account = inputs["order_amount"], inputs["new_account"]
    typical = {
        "typical_amount": _typical(amount),
        "typical_first_order": _typical(amount[new_account]) if new_account.any() else 0.0,
    }
    del inputs, amount, new_account
    typical["typical_units"] = round(_typical(_read(orders, ("units",))["units"]))
    max_units = _read(orders, ("max_units_one_product",))["max_units_one_product"]
    typical["typical_units_one_product"] = round(_typical(max_units))
    return params, typical


def _chunks(n: int, size: int = CHUNK_ROWS) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def _score(forest: IsolationForest, x: np.ndarray, pool: ThreadPoolExecutor) -> np.ndarray:
    """scikit-learn's score_samples (lower = more anomalous), the rows split over the pool's threads.

    Each row's score sums its path length over the trees in tree order whatever the split: the same result.
    """
    parts = np.array_split(x, SCORING_THREADS) if len(x) >= 2 * SCORING_THREADS else [x]
    return np.concatenate(list(pool.map(forest.score_samples, parts)))


def _fit_inputs(orders: duckdb.DuckDBPyRelation, n: int, seed: int) -> dict[str, np.ndarray]:
    """The deviation inputs of every order, or of a seeded uniform sample of FIT_SAMPLE_ROWS of them (row
    positions in order_id order, picked batch by batch: the other orders are never held)."""
    columns = tuple(_INPUTS)
    if n <= FIT_SAMPLE_ROWS:
        return _read(orders, columns)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=FIT_SAMPLE_ROWS, replace=False))
    parts: list[dict[str, np.ndarray]] = []
    for lo, batch in _batches(orders, columns, ordered=True):
        chosen = rows[(rows >= lo) & (rows < lo + batch.num_rows)] - lo
        parts.append({c: values[chosen] for c, values in _numpy(batch, columns).items()})
    return {c: np.concatenate([part[c] for part in parts]) for c in columns}


def _fit_forest(orders: duckdb.DuckDBPyRelation, n: int, params: dict[str, tuple[float, float]],
                n_estimators: int, seed: int) -> IsolationForest:
    """The forest fitted on every order, or on a seeded uniform sample of FIT_SAMPLE_ROWS of them."""
    x = _deviation_matrix(_fit_inputs(orders, n, seed), params).astype(np.float32)  # the forest works in float32
    forest = IsolationForest(n_estimators=n_estimators, max_samples=min(MAX_SAMPLES, len(x)),
                             contamination="auto", random_state=seed)
    forest.fit(x)
    return forest


def _insert_chunk(con: duckdb.DuckDBPyConnection, table: str, chunk: pa.Table) -> None:
    con.register(_CHUNK_VIEW, chunk)
    try:
        con.execute(f"insert into {table} select * from {_CHUNK_VIEW}")
    finally:
        con.unregister(_CHUNK_VIEW)


def _write_deviations(con: duckdb.DuckDBPyConnection, orders: duckdb.DuckDBPyRelation, n: int,
                      params: dict[str, tuple[float, float]]) -> None:
    """The deviations of every order into _DEVIATIONS_TABLE, batch by batch (a row's deviations depend on its
    inputs and the parameters only, so the batches need no order)."""
    columns = ", ".join(f"{name} double" for name in DEVIATIONS)
    con.execute(f"create or replace temp table {_DEVIATIONS_TABLE} ({ORDER_KEY} varchar, {columns})")
    with step(logger, "order anomalies: deviations", n, "orders") as progress:
        for _, batch in _batches(orders, tuple(_INPUTS), ordered=False, with_key=True):
            z = _deviation_matrix(_numpy(batch, tuple(_INPUTS)), params)
            _insert_chunk(con, _DEVIATIONS_TABLE, pa.table({
                ORDER_KEY: batch.column(ORDER_KEY), **{name: z[:, j] for j, name in enumerate(DEVIATIONS)},
            }))
            progress.advance(batch.num_rows)


def _score_vectors(
    con: duckdb.DuckDBPyConnection, forest: IsolationForest | None
) -> tuple[np.ndarray, np.ndarray]:
    """Score each distinct deviation vector once (the forest's score depends on nothing else) into
    _VECTORS_TABLE; returns (raw scores, orders per vector). Ordinary orders share few vectors: most of their
    deviations are 0, and amounts, counts and hours repeat."""
    columns = ", ".join(DEVIATIONS)
    con.execute(
        f"create or replace temp table _anomaly_distinct as "
        f"select row_number() over (order by {columns}) - 1 as vid, * "
        f"from (select {columns}, count(*) as orders from {_DEVIATIONS_TABLE} group by all) order by vid"
    )
    u = int(scalar(con, "select count(*) from _anomaly_distinct") or 0)
    raw = np.empty(u, dtype=float)
    orders = np.empty(u, dtype=np.int64)
    con.execute(
        f"create or replace temp table {_VECTORS_TABLE} "
        f"(vid bigint, {', '.join(f'{name} double' for name in DEVIATIONS)}, orders bigint, "
        "anomaly_score double, raw_score double)"
    )
    with ThreadPoolExecutor(SCORING_THREADS) as pool, \
            step(logger, "order anomalies: isolation forest", u, "distinct deviation vectors") as progress:
        for lo, hi in _chunks(u):
            chunk = con.execute(
                f"select * from _anomaly_distinct where vid >= {lo} and vid < {hi} order by vid"
            ).fetchnumpy()
            z = np.column_stack([chunk[name] for name in DEVIATIONS])
            assert forest is not None  # there are vectors only when there are orders
            scores = _score(forest, z.astype(np.float32), pool)
            raw[lo:hi] = scores
            orders[lo:hi] = chunk["orders"]
            _insert_chunk(con, _VECTORS_TABLE, pa.table({
                "vid": chunk["vid"], **{name: chunk[name] for name in DEVIATIONS}, "orders": chunk["orders"],
                "anomaly_score": np.round(-scores * 100.0, 2), "raw_score": scores,
            }))
            progress.advance(hi - lo)
    con.execute("drop table _anomaly_distinct")
    return raw, orders


@contextmanager
def _registered(
    con: duckdb.DuckDBPyConnection, source: Callable[[duckdb.DuckDBPyConnection], object]
) -> Iterator[duckdb.DuckDBPyRelation]:
    """The orders' features (``source`` on a connection: a relation or a frame) as the temporary view
    _FEATURES_VIEW on ``con``, which _RESULT_SQL reads, and on a cursor of it, whose relation is yielded: the
    deviations are read from the cursor in batches while ``con`` writes them (a connection with an open result
    can run no other query)."""
    reader = con.cursor()
    try:
        for connection in (con, reader):
            connection.register(_FEATURES_VIEW, source(connection))
        yield reader.view(_FEATURES_VIEW)
    finally:
        con.unregister(_FEATURES_VIEW)
        reader.close()


def _run(
    con: duckdb.DuckDBPyConnection, orders: duckdb.DuckDBPyRelation, contamination: float, n_estimators: int,
    seed: int,
) -> tuple[dict[str, object], int, int, int]:
    """Score ``orders`` (_FEATURES_VIEW, read on a cursor of ``con``): the parameters of _RESULT_SQL (which then
    selects OUTPUT_COLUMNS by rank), the orders, the orders flagged and the forest's fit rows."""
    if not 0.0 < contamination <= 0.5:
        raise ValueError("contamination must be within (0, 0.5]")
    n = int(orders.aggregate("count(*)").fetchall()[0][0])
    offset, fit_rows, flagged = float("nan"), 0, 0
    typical = {"typical_amount": 0.0, "typical_units": 0, "typical_units_one_product": 0, "typical_first_order": 0.0}
    params = {name: (0.0, 0.0) for name in DEVIATIONS}
    if n:
        params, typical = _parameters(orders)
    _write_deviations(con, orders, n, params)
    if n:
        forest = _fit_forest(orders, n, params, n_estimators, seed)
        fit_rows = min(n, FIT_SAMPLE_ROWS)
        raw, orders = _score_vectors(con, forest)
        # The flagging cut over every order, as IsolationForest(contamination=...) puts it over its training rows.
        offset = float(np.percentile(np.repeat(raw, orders), 100.0 * contamination))
        flagged = int(orders[raw < offset].sum())
    else:
        _score_vectors(con, None)  # no order, no vector: the empty table only
    logger.info("scored %d sale orders (forest fitted on %d), flagged %d (contamination %.4f)",
                n, fit_rows, flagged, contamination)
    query_params = {
        **typical, "offset": offset, "orders": max(n, 1), "min_z": MIN_REASON_Z, "max_share": MAX_REASON_SHARE,
        "n": N_REASONS,
    }
    return query_params, n, flagged, fit_rows


def _drop_temporary(con: duckdb.DuckDBPyConnection) -> None:
    for table in (*_TEMPORARY, "_anomaly_distinct"):
        con.execute(f"drop table if exists {table}")


def score_orders(features: pd.DataFrame, *, contamination: float = DEFAULT_CONTAMINATION,
                 n_estimators: int = N_ESTIMATORS, seed: int = 0) -> pd.DataFrame:
    """Deviations, isolation-forest score, flag and reason for a build_order_features frame.

    Rows come back sorted by anomaly_score (highest first), then order_id; anomaly_rank is 1 for the
    most anomalous order.
    """
    with duckdb.connect() as con, _registered(con, lambda _: features) as orders:
        params, _, _, _ = _run(con, orders, contamination, n_estimators, seed)
        return con.execute(_RANKED_SQL, params).df()


def detect_order_anomalies(con: duckdb.DuckDBPyConnection, *, contamination: float = DEFAULT_CONTAMINATION,
                           new_account_days: int = NEW_ACCOUNT_DAYS, n_estimators: int = N_ESTIMATORS,
                           seed: int = 0) -> pd.DataFrame:
    """Score every completed sale order of the built warehouse behind ``con`` (see the module docstring).

    Returns one row per sale order (OUTPUT_COLUMNS): ids and timestamps, order_amount, anomaly_score
    (0-100, higher = more anomalous), anomaly_rank, is_anomaly, reason, the feature values and the
    one-sided robust z-scores. Deterministic for a given warehouse and seed. A frame of every order: the
    pipeline writes the table with :func:`write_order_anomalies` instead.
    """
    source = functools.partial(order_features, new_account_days=new_account_days)
    try:
        with _registered(con, source) as orders:
            params, _, _, _ = _run(con, orders, contamination, n_estimators, seed)
            return con.execute(_RANKED_SQL, params).df()
    finally:
        _drop_temporary(con)


def write_order_anomalies(con: duckdb.DuckDBPyConnection, *, table: str = TABLE,
                          contamination: float = DEFAULT_CONTAMINATION, new_account_days: int = NEW_ACCOUNT_DAYS,
                          n_estimators: int = N_ESTIMATORS, seed: int = 0) -> AnomalySummary:
    """Score every completed sale order (as :func:`detect_order_anomalies`) straight into ``ml.<table>``.

    The rows never pass through pandas: the table is created from the scoring query in one transaction.
    Returns the counts the asset reports.
    """
    source = functools.partial(order_features, new_account_days=new_account_days)
    try:
        with _registered(con, source) as orders:
            params, n, flagged, fit_rows = _run(con, orders, contamination, n_estimators, seed)
            with step(logger, "order anomalies: reasons, ranks and the table", n, "orders"):
                replace_table_from_query(con, table, _RESULT_SQL, casts=TABLE_CASTS, params=params)
    finally:
        _drop_temporary(con)
    name = f"{ML_SCHEMA}.{table}"
    amount = scalar(con, f"select coalesce(sum(order_amount), 0) from {name} where is_anomaly")
    top = con.execute(f"select reason from {name} where is_anomaly order by anomaly_rank limit 5").fetchall()
    return AnomalySummary(
        rows=n,
        flagged=flagged,
        flagged_amount=float(amount or 0.0),
        top_reasons=[r[0] for r in top],
        fit_rows=fit_rows,
    )
