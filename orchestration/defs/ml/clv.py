"""Probabilistic CLV asset: BG/NBD + Gamma-Gamma on the CLV summary feature model, into ml.customer_clv.

The model code is in ``ml/clv/`` (no Dagster there). pymc / pytensor compile and cache under
``COMPTOIR_HOME/cache`` (set before they are imported), never in the repository or the home folder.
``comptoir build`` fits it with every other asset. The asset fits and scores in one step (the fit takes seconds),
so it belongs with the weekly re-fits (``WEEKLY_REFIT_KEYS`` in ``schedules.py``): re-fitted every Monday.
"""

import math
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from ml.clv import fit_clv, read_clv_summary
from ml.clv.model import SUMMARY_MODEL
from ml.clv.tables import CUSTOMER_CLV_CASTS, CUSTOMER_CLV_TABLE, PARAMETER_COLUMNS, customer_clv_table
from ml.warehouse import FEATURES_SCHEMA, ML_SCHEMA, InsufficientDataError, features, replace_table
from orchestration.defs.ml.common import ML_GROUP, absent_table, connect, skipped, timed
from orchestration.defs.resources import WarehouseResource

CUSTOMER_CLV_KEY = AssetKey([ML_SCHEMA, CUSTOMER_CLV_TABLE])
CLV_SUMMARY_KEY = AssetKey([FEATURES_SCHEMA, SUMMARY_MODEL])
CACHE_FOLDER = "cache"  # under COMPTOIR_HOME
_TABLE = f"{ML_SCHEMA}.{CUSTOMER_CLV_TABLE}"


@asset(
    key=CUSTOMER_CLV_KEY,
    deps=[CLV_SUMMARY_KEY],
    group_name=ML_GROUP,
    kinds={"python", "pymc", "duckdb"},
    description=(
        "Every customer of the CLV summary (feat_clv__customer_summary) with a probabilistic CLV: BG/NBD "
        "(probability still active, expected purchases in the next 90 and 365 days) and Gamma-Gamma (expected "
        "spend per purchase), maximum-likelihood fits in days; clv_12m = the next 12 months' expected spend "
        "discounted at 1 % a month."
    ),
)
def customer_clv(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    with timed(context, "ml.customer_clv") as done:
        with connect(warehouse) as con:
            summary = read_clv_summary(con)
        # The fit runs with the warehouse closed: other readers are not locked out for its duration.
        try:
            if summary.empty:
                raise InsufficientDataError("no customer in the CLV summary")
            as_of = pd.Timestamp(summary["as_of_date"].max()).date()
            result = fit_clv(summary, "day", cache_root=warehouse.models_path.parent / CACHE_FOLDER, as_of=as_of)
        except InsufficientDataError as error:
            with connect(warehouse) as con:
                return skipped(context, con, [CUSTOMER_CLV_TABLE], error)
        table = customer_clv_table(result, as_of)
        with connect(warehouse) as con:
            replace_table(con, CUSTOMER_CLV_TABLE, table, casts=CUSTOMER_CLV_CASTS)
        done(len(table))
    p = result.parameters
    metrics = result.metrics()
    summary_line = (
        f"{len(table):,} customers; BG/NBD r={p['r']:.3f} alpha={p['alpha']:.2f} a={p['a']:.3f} b={p['b']:.3f}; "
        f"Gamma-Gamma p={p['p']:.2f} q={p['q']:.2f} gamma={p['gamma']:.2f}; "
        f"mean 12-month CLV {metrics['mean_clv_12m']:,.2f}"
    )
    context.log.info(
        f"{result.model_version}: {summary_line} (fitted on {result.customers_fitted:,} customers in "
        f"{result.fit_seconds:.1f}s)"
    )
    return MaterializeResult(
        metadata={
            "summary": summary_line,
            "rows": len(table),
            "model_version": result.model_version,
            "as_of_date": as_of.isoformat(),
            "time_unit": result.time_unit,
            "monthly_discount_rate": result.monthly_discount_rate,
            **{column: float(p[name]) for name, column in PARAMETER_COLUMNS.items()},
            **{name: value for name, value in metrics.items() if name != "customers"},
            "settings": MetadataValue.json(result.settings),
        }
    )


def _check(passed: bool, **metadata: Any) -> AssetCheckResult:
    return AssetCheckResult(passed=bool(passed), metadata=metadata)


@asset_check(asset=CUSTOMER_CLV_KEY, description="One fitted model: its seven parameters finite and positive, q > 1.")
def clv_parameters_finite(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, CUSTOMER_CLV_TABLE)) is not None:
        return absent
    columns = list(PARAMETER_COLUMNS.values())
    with connect(warehouse) as con:
        frame = con.execute(
            f"select distinct model_version, {', '.join(columns)} from {_TABLE}"
        ).df()
    if len(frame) != 1:
        return _check(False, reason=f"{len(frame)} distinct parameter sets (expected exactly 1)")
    values = {column: float(frame.at[0, column]) for column in columns}
    bad = [c for c, v in values.items() if not (math.isfinite(v) and v > 0)]
    # Gamma-Gamma's population mean spend p gamma / (q - 1) needs q > 1.
    passed = not bad and values["gamma_gamma_q"] > 1
    return _check(passed, model_version=str(frame.at[0, "model_version"]), not_finite_or_positive=bad, **values)


@asset_check(asset=CUSTOMER_CLV_KEY, description="probability_alive is set and lies in [0, 1] for every customer.")
def clv_probabilities_in_unit_interval(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, CUSTOMER_CLV_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        bad, low, high = con.execute(
            f"""
            select count(*) filter (where probability_alive is null or isnan(probability_alive)
                                        or probability_alive < 0 or probability_alive > 1),
                   min(probability_alive), max(probability_alive)
            from {_TABLE}
            """
        ).fetchone() or (0, None, None)
    return _check(bad == 0, out_of_range=bad, min=low, max=high)


@asset_check(
    asset=CUSTOMER_CLV_KEY,
    description="Expected purchases, spend and 12-month CLV are set and non-negative; 365-day purchases >= 90-day.",
)
def clv_expectations_non_negative(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, CUSTOMER_CLV_TABLE)) is not None:
        return absent
    expectations = ("expected_purchases_90d", "expected_purchases_365d", "expected_avg_order_value", "clv_12m")
    counts = ", ".join(
        f"count(*) filter (where {c} is null or isnan({c}::double) or {c} < 0) as {c}" for c in expectations
    )
    with connect(warehouse) as con:
        row = con.execute(
            f"""
            select {counts},
                   count(*) filter (where expected_purchases_365d < expected_purchases_90d) as not_increasing
            from {_TABLE}
            """
        ).df().iloc[0]
    failures = {name: int(value) for name, value in row.items()}
    return _check(not any(failures.values()), **failures)


@asset_check(
    asset=CUSTOMER_CLV_KEY,
    description="Exactly one row per customer of the CLV summary it was fitted on (feat_clv__customer_summary).",
)
def clv_one_row_per_customer(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, CUSTOMER_CLV_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        # The summary is a feature model (read with the relation API); the result is our own table in schema ml.
        clv = con.table(_TABLE).project("customer_id")
        summary = features(con, SUMMARY_MODEL).project("customer_id")
        rows = len(clv)
        duplicates = rows - len(clv.distinct())
        missing = len(summary.join(clv, "customer_id", how="anti"))
        extra = len(clv.join(summary, "customer_id", how="anti"))
    return _check(
        not (duplicates or missing or extra), rows=rows, duplicates=duplicates, missing=missing, extra=extra
    )


clv_assets: list = [customer_clv]
clv_checks: list = [
    clv_parameters_finite,
    clv_probabilities_in_unit_interval,
    clv_expectations_non_negative,
    clv_one_row_per_customer,
]
