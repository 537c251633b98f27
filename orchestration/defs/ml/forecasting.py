"""Forecasting assets: backtests that choose a model per series, the published forecasts, and stock-outs.

The code lives in `ml/forecasting/` (no Dagster there); these assets read the marts, write schema `ml` and put
the metrics on the materializations. Every table is replaced whole, and the same data give the same rows and
the same model version. Order: `ml/forecast_accuracy` backtests every candidate model and marks the chosen one
per series; `ml/forecast_daily_sales` reads that choice and fits only the chosen model on the whole history;
`ml/stockout_forecast` reads the published unit forecasts. The weekly `ml_weekly_refit` job re-runs the
backtest, then the forecast (schedules.py); the daily refresh recomputes the stock-out forecast on the current
stock with the last published forecast; every build runs all three.
"""

import time
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from ml.forecasting import (
    ACCURACY_CASTS,
    FORECAST_CASTS,
    MODELS,
    STOCKOUT_CASTS,
    TOTAL_SERIES,
    backtest,
    forecast_daily_sales,
    load_forecast_inputs,
    model_choice,
    read_category_unit_forecast,
    read_inventory_demand,
    read_model_choice,
    stockout_forecast,
)
from ml.forecasting.backtest import N_FOLDS
from ml.forecasting.series import MARKETS_MODEL, SERIES_MODEL
from ml.forecasting.stockout import INVENTORY_MODEL, LEAD_TIME_DAYS
from ml.warehouse import (
    FEATURES_SCHEMA,
    ML_SCHEMA,
    InsufficientDataError,
    features,
    read_as_of_date,
    replace_table,
    table_exists,
)
from orchestration.defs.ml.common import ML_GROUP, absent_table, connect, metric_metadata, skipped, timed
from orchestration.defs.resources import WarehouseResource

FORECAST_TABLE = "forecast_daily_sales"
ACCURACY_TABLE = "forecast_accuracy"
STOCKOUT_TABLE = "stockout_forecast"
FORECAST_KEY = AssetKey([ML_SCHEMA, FORECAST_TABLE])
ACCURACY_KEY = AssetKey([ML_SCHEMA, ACCURACY_TABLE])
STOCKOUT_KEY = AssetKey([ML_SCHEMA, STOCKOUT_TABLE])
MIN_FOLDS = 3  # the minimum; the backtest runs N_FOLDS
MIN_YEAR_DAYS = 365  # "a year of history": the series the published forecast must not lose to a baseline on
COVERAGE_TARGET = (0.75, 0.85)  # the target for the 80 % interval's measured coverage

AS_OF_KEY = AssetKey([FEATURES_SCHEMA, "feat_as_of_date"])  # ml.warehouse.read_as_of_date
# The feature models ml/forecasting/series.py reads, and the as-of date.
SALES_INPUTS = [AssetKey([FEATURES_SCHEMA, SERIES_MODEL]), AssetKey([FEATURES_SCHEMA, MARKETS_MODEL]), AS_OF_KEY]
# ml/forecasting/stockout.py reads this besides the forecast table, and the as-of date.
STOCK_INPUTS = [AssetKey([FEATURES_SCHEMA, INVENTORY_MODEL]), AS_OF_KEY]


@asset(
    key=ACCURACY_KEY,
    deps=SALES_INPUTS,
    group_name=ML_GROUP,
    kinds={"python", "prophet", "statsmodels", "duckdb"},
    description=(
        f"Rolling-origin backtests ({N_FOLDS} folds of 30 days over the last year) of every candidate model for "
        "every forecast series: Prophet, ETS, Theta, their mean, the seasonal naive and the 28-day average. MAE, "
        "MAPE, sMAPE and MASE per fold and overall (mean of the folds), the coverage of the calibrated 80 % "
        "interval on held-out folds, and the model chosen to publish each series (lowest overall MASE)."
    ),
)
def forecast_accuracy_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    started = time.monotonic()
    with timed(context, "ml.forecast_accuracy") as done, connect(warehouse) as con:
        inputs = load_forecast_inputs(con)
        try:
            table = backtest(inputs.series, inputs.as_of, inputs.settings, inputs.version)
        except InsufficientDataError as error:
            return skipped(context, con, [ACCURACY_TABLE], error)
        replace_table(con, ACCURACY_TABLE, table, casts=ACCURACY_CASTS)
        done(len(table))
    runtime = time.monotonic() - started
    metadata: dict[str, Any] = {
        "model_version": inputs.version,
        "folds": int(table["fold"].max()) if len(table) else 0,
        "rows": len(table),
        "runtime_seconds": round(runtime, 2),
        **_accuracy_metadata(table),
    }
    context.log.info(metadata["summary"])
    return MaterializeResult(metadata=metadata)


def _accuracy_metadata(table: pd.DataFrame) -> dict[str, Any]:
    """The summary line and the figures worth a glance: the total's scores, the choices, the coverage."""
    choice = model_choice(table)
    if choice.empty:
        return {"summary": "no backtest: not enough history"}
    chosen = choice["model"].value_counts().sort_index().to_dict()
    coverage = choice["interval_coverage"].astype(float)
    outside = sorted(choice.loc[~coverage.between(*COVERAGE_TARGET), "series"])
    overall = table[table["scope"] == "overall"]
    total = overall[overall["series"] == TOTAL_SERIES].set_index("model")
    metadata: dict[str, Any] = {
        "chosen_models": MetadataValue.json(chosen),
        "series_coverage_outside_target": MetadataValue.json(outside),
        **metric_metadata({"mean_interval_coverage": coverage.mean()}),
    }
    head = ""
    chosen_total = total.index[total["is_chosen"].astype(bool)] if not total.empty else []
    if len(chosen_total) == 1:
        published = chosen_total[0]
        others = ", ".join(f"{model} {total.loc[model, 'mase']:.2f}" for model in MODELS if model in total.index)
        head = (
            f"total: published {published} (MASE {total.loc[published, 'mase']:.2f}; {others}), 80 % interval "
            f"coverage {total.loc[published, 'interval_coverage']:.0%}; "
        )
        for model in total.index:
            metadata.update(metric_metadata({
                f"total_{metric}_{model}": total.loc[model, metric] for metric in ("mase", "mape", "smape")
            }))
        metadata.update(metric_metadata({"total_interval_coverage": total.loc[published, "interval_coverage"]}))
    metadata["summary"] = (
        f"{head}chosen per series: " + ", ".join(f"{model} {count}" for model, count in chosen.items())
        + f"; coverage {COVERAGE_TARGET[0]:.0%}-{COVERAGE_TARGET[1]:.0%} on {len(choice) - len(outside)} of "
        f"{len(choice)} series (mean {coverage.mean():.0%})"
    )
    return metadata


@asset(
    key=FORECAST_KEY,
    deps=[*SALES_INPUTS, ACCURACY_KEY],
    group_name=ML_GROUP,
    kinds={"python", "prophet", "statsmodels", "duckdb"},
    description=(
        "Daily forecasts, 90 days past the as-of date with calibrated 80 % intervals, of the shop's revenue and "
        "of revenue and units per category, each by the model its backtest chose (ml.forecast_accuracy: the "
        "lowest MASE among Prophet, ETS, Theta, their mean and the two baselines), with the actuals, the "
        "in-sample fit of the history, and per row the model and why. Re-fitted weekly (schedule "
        "ml_weekly_refit, after the backtest) and on every build."
    ),
)
def forecast_daily_sales_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    started = time.monotonic()
    with timed(context, "ml.forecast_daily_sales") as done, connect(warehouse) as con:
        inputs = load_forecast_inputs(con)
        choice = read_model_choice(con, ACCURACY_TABLE)
        stale = sorted(set(choice["model_version"].dropna()) - {inputs.version})
        if stale:
            # The data changed since the backtest: its choice still stands until the next refit, said loudly.
            context.log.warning(f"model choice from backtest {', '.join(stale)}, not {inputs.version}: reused")
        try:
            table, version = forecast_daily_sales(inputs.series, inputs.as_of, inputs.settings, choice)
        except InsufficientDataError as error:
            return skipped(context, con, [FORECAST_TABLE], error)
        replace_table(con, FORECAST_TABLE, table, casts=FORECAST_CASTS)
        done(len(table))
    runtime = time.monotonic() - started
    future = table[table["is_forecast"]]
    total = future[future["series"] == TOTAL_SERIES].sort_values("date_day")
    next_30 = float(total["yhat"].head(30).sum())
    next_90 = float(total["yhat"].sum())
    total_model = str(total["model"].iloc[0]) if len(total) else "none"
    models = table.groupby("series")["model"].first().value_counts().sort_index().to_dict()
    markets = ", ".join(inputs.settings.main_markets) or "none"
    horizon = inputs.settings.horizon_days
    summary = (
        f"{inputs.series_count} series x {horizon} days ({version}); shop revenue next 30 days {next_30:,.0f}, "
        f"next {horizon} days {next_90:,.0f} ({total_model}); models: "
        + ", ".join(f"{model} {count}" for model, count in models.items())
        + f"; holidays of {markets}"
    )
    context.log.info(f"{summary} in {runtime:.1f}s")
    return MaterializeResult(
        metadata={
            "summary": summary,
            "model_version": version,
            "as_of_date": inputs.as_of.isoformat(),
            "series": inputs.series_count,
            "horizon_days": horizon,
            "rows": len(table),
            "forecast_rows": len(future),
            "revenue_next_30_days": next_30,
            f"revenue_next_{horizon}_days": next_90,
            "total_revenue_model": total_model,
            "models": MetadataValue.json(models),
            "holiday_markets": markets,
            "runtime_seconds": round(runtime, 2),
        }
    )


@asset(
    key=STOCKOUT_KEY,
    deps=[FORECAST_KEY, *STOCK_INPUTS],
    group_name=ML_GROUP,
    kinds={"python", "duckdb"},
    description=(
        "Per counted product: expected days until stock-out from its category's unit forecast times its recent "
        "share of the category, and the quantity to reorder now to cover the lead time and review period plus "
        "safety stock (ml/forecasting/stockout.py). Empty when there is no inventory source."
    ),
)
def stockout_forecast_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    started = time.monotonic()
    with timed(context, "ml.stockout_forecast") as done, connect(warehouse) as con:
        if not table_exists(con, FORECAST_TABLE):
            return skipped(context, con, [STOCKOUT_TABLE], InsufficientDataError("no sales forecast"))
        as_of = read_as_of_date(con)
        inventory = read_inventory_demand(con)
        forecast, version = read_category_unit_forecast(con, FORECAST_TABLE)
        table = stockout_forecast(inventory, forecast, as_of, version)
        replace_table(con, STOCKOUT_TABLE, table, casts=STOCKOUT_CASTS)
        done(len(table))
    runtime = time.monotonic() - started
    if table.empty:
        summary = "no inventory source: nothing to forecast"
        counts: dict[str, Any] = {"products": 0}
    else:
        days = pd.to_numeric(table["days_until_stockout"])
        reorder = table[table["reorder_quantity"] > 0]
        counts = {
            "products": len(table),
            "out_of_stock_now": int((days == 0).sum()),
            "stockout_within_lead_time": int(table["stockout_within_lead_time"].sum()),
            "stockout_within_horizon": int(days.notna().sum()),
            "products_to_reorder": len(reorder),
            "units_to_reorder": int(reorder["reorder_quantity"].sum()),
        }
        summary = (
            f"{counts['products']} products: {counts['stockout_within_lead_time']} run out within the "
            f"{LEAD_TIME_DAYS}-day lead time, {counts['stockout_within_horizon']} within the forecast horizon; "
            f"reorder {counts['units_to_reorder']:,} units of {counts['products_to_reorder']} products"
        )
    context.log.info(summary)
    return MaterializeResult(
        metadata={"summary": summary, "model_version": version, "runtime_seconds": round(runtime, 2), **counts}
    )


@asset_check(asset=FORECAST_KEY, description="No forecast, lower or upper bound is negative or missing.")
def forecasts_are_non_negative(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, FORECAST_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        row = con.execute(
            f"""
            select
                count(*) filter (where yhat < 0 or yhat_lower < 0 or yhat_upper < 0),
                count(*) filter (where yhat is null or yhat_lower is null or yhat_upper is null),
                count(*) filter (where is_forecast)
            from {ML_SCHEMA}.{FORECAST_TABLE}
            """
        ).fetchone()
    negative, missing, forecast_rows = row or (0, 0, 0)
    return AssetCheckResult(
        passed=negative == 0 and missing == 0 and forecast_rows > 0,
        metadata={"negative_values": negative, "missing_values": missing, "forecast_rows": forecast_rows},
    )


@asset_check(asset=FORECAST_KEY, description="Every interval contains its point forecast: lower <= yhat <= upper.")
def forecast_intervals_contain_point(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, FORECAST_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        row = con.execute(
            f"""
            select
                count(*) filter (where not (yhat_lower <= yhat and yhat <= yhat_upper)),
                count(*),
                count(distinct series)
            from {ML_SCHEMA}.{FORECAST_TABLE}
            """
        ).fetchone()
    outside, rows, series = row or (0, 0, 0)
    return AssetCheckResult(
        passed=outside == 0 and rows > 0, metadata={"outside_interval": outside, "rows": rows, "series": series}
    )


@asset_check(
    asset=FORECAST_KEY,
    additional_deps=[ACCURACY_KEY],
    description=(
        f"Every published series has backtest accuracy for every candidate model: at least {MIN_FOLDS} folds with "
        "a MASE and an overall row, all of this model version; and it is published by the one model the backtest "
        "marked as chosen."
    ),
)
def forecast_accuracy_recorded(warehouse: WarehouseResource) -> AssetCheckResult:
    for table in (ACCURACY_TABLE, FORECAST_TABLE):
        if (absent := absent_table(warehouse, table)) is not None:
            return absent
    models = ", ".join(f"('{model}')" for model in MODELS)
    with connect(warehouse) as con:
        gaps = con.execute(
            f"""
            with expected as (
                select distinct f.series, f.model_version, m.model
                from {ML_SCHEMA}.{FORECAST_TABLE} as f
                cross join (values {models}) as m (model)
            ),
            recorded as (
                select
                    series, model, model_version,
                    count(*) filter (where scope = 'fold' and mase is not null) as folds,
                    count(*) filter (where scope = 'overall') as overall_rows
                from {ML_SCHEMA}.{ACCURACY_TABLE}
                group by all
            )
            select expected.series, expected.model, coalesce(recorded.folds, 0), coalesce(recorded.overall_rows, 0)
            from expected
            left join recorded using (series, model, model_version)
            where coalesce(recorded.folds, 0) < {MIN_FOLDS} or coalesce(recorded.overall_rows, 0) <> 1
            order by 1, 2
            """
        ).fetchall()
        mismatched = con.execute(
            f"""
            with published as (
                select series, any_value(model) as model, count(distinct model) as models
                from {ML_SCHEMA}.{FORECAST_TABLE} group by series
            ),
            chosen as (
                select series, string_agg(model, ', ' order by model) as chosen
                from {ML_SCHEMA}.{ACCURACY_TABLE}
                where scope = 'overall' and is_chosen
                group by series
            )
            select published.series, published.model, published.models, chosen.chosen
            from published left join chosen using (series)
            where published.models <> 1 or chosen.chosen is distinct from published.model
            order by 1
            """
        ).fetchall()
        expected = con.execute(f"select count(distinct series) from {ML_SCHEMA}.{FORECAST_TABLE}").fetchone()
    series_count = expected[0] if expected else 0
    return AssetCheckResult(
        passed=not gaps and not mismatched and series_count > 0,
        metadata={
            "series": series_count,
            "models": len(MODELS),
            "missing": MetadataValue.json([f"{s} / {m}: {f} folds, {o} overall rows" for s, m, f, o in gaps]),
            "not_the_chosen_model": MetadataValue.json(
                [f"{s}: published {m} ({n} models), chosen {c}" for s, m, n, c in mismatched]
            ),
        },
    )


@asset_check(
    asset=FORECAST_KEY,
    additional_deps=[ACCURACY_KEY],
    description=(
        f"On every series with at least {MIN_YEAR_DAYS} days of history, the published model's overall backtest "
        "MASE is at most the best baseline's (seasonal naive or 28-day average)."
    ),
)
def published_forecast_beats_best_baseline(warehouse: WarehouseResource) -> AssetCheckResult:
    for table in (ACCURACY_TABLE, FORECAST_TABLE):
        if (absent := absent_table(warehouse, table)) is not None:
            return absent
    with connect(warehouse) as con:
        rows = con.execute(
            f"""
            with published as (
                select series, any_value(model) as model, count(*) filter (where not is_forecast) as history_days
                from {ML_SCHEMA}.{FORECAST_TABLE} group by series
            ),
            overall as (
                select series, model, mase, is_baseline from {ML_SCHEMA}.{ACCURACY_TABLE} where scope = 'overall'
            )
            select
                published.series,
                published.model,
                max(overall.mase) filter (where overall.model = published.model) as published_mase,
                min(overall.mase) filter (where overall.is_baseline) as best_baseline_mase
            from published left join overall using (series)
            where published.history_days >= ?
            group by published.series, published.model
            order by published.series
            """,
            [MIN_YEAR_DAYS],
        ).fetchall()
    losers = [
        f"{series}: {model} {published if published is not None else 'no MASE'} > best baseline {baseline}"
        for series, model, published, baseline in rows
        if published is None or baseline is None or published > baseline
    ]
    total = {series: (published, baseline) for series, _, published, baseline in rows}.get(TOTAL_SERIES)
    return AssetCheckResult(
        passed=bool(rows) and not losers,
        metadata={
            "series_checked": len(rows),
            "failures": MetadataValue.json(losers),
            **metric_metadata({"total_published_mase": total[0], "total_best_baseline_mase": total[1]} if total
                              else {}),
        },
    )


@asset_check(
    asset=FORECAST_KEY,
    additional_deps=[ACCURACY_KEY],
    description=(
        "The 80 % interval's coverage is measured on held-out backtest folds for every published series with at "
        f"least two folds, and its mean over the series lies within {COVERAGE_TARGET[0]:.0%}-"
        f"{COVERAGE_TARGET[1]:.0%} (warning only: a miscalibrated interval is still published, and said so)."
    ),
)
def forecast_interval_coverage_measured(warehouse: WarehouseResource) -> AssetCheckResult:
    for table in (ACCURACY_TABLE, FORECAST_TABLE):
        if (absent := absent_table(warehouse, table)) is not None:
            return absent
    with connect(warehouse) as con:
        rows = con.execute(
            f"""
            select series, any_value(interval_coverage) as coverage
            from {ML_SCHEMA}.{FORECAST_TABLE}
            where series in (
                select series from {ML_SCHEMA}.{ACCURACY_TABLE} where scope = 'fold' group by series
                having count(distinct fold) >= 2
            )
            group by series order by series
            """
        ).fetchall()
    unmeasured = [series for series, coverage in rows if coverage is None]
    measured = [coverage for _, coverage in rows if coverage is not None]
    outside = [f"{s}: {c:.0%}" for s, c in rows if c is not None and not COVERAGE_TARGET[0] <= c <= COVERAGE_TARGET[1]]
    mean = sum(measured) / len(measured) if measured else None
    return AssetCheckResult(
        passed=bool(rows) and not unmeasured and mean is not None
        and COVERAGE_TARGET[0] <= mean <= COVERAGE_TARGET[1],
        severity=AssetCheckSeverity.WARN,
        metadata={
            "series": len(rows),
            "unmeasured": MetadataValue.json(unmeasured),
            "outside_target": MetadataValue.json(outside),
            **metric_metadata({"mean_coverage": mean, "min_coverage": min(measured, default=None),
                               "max_coverage": max(measured, default=None)}),
        },
    )


@asset_check(asset=STOCKOUT_KEY, description="One row per product counted in the inventory, none negative.")
def stockout_covers_every_counted_product(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, STOCKOUT_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        # the products counted in the inventory: its feature model has one row per product
        counted = int(features(con, INVENTORY_MODEL).aggregate("count(distinct product_id)").fetchall()[0][0])
        row = con.execute(
            f"""
            select
                count(*),
                count(distinct product_id),
                count(*) filter (where reorder_quantity < 0 or days_until_stockout < 0 or safety_stock < 0)
            from {ML_SCHEMA}.{STOCKOUT_TABLE}
            """
        ).fetchone()
    rows, distinct, negative = row or (0, 0, 0)
    return AssetCheckResult(
        passed=rows == distinct == counted and negative == 0,
        metadata={"counted_products": counted, "rows": rows, "distinct_products": distinct, "negative": negative},
    )


forecast_assets: list = [forecast_accuracy_asset, forecast_daily_sales_asset, stockout_forecast_asset]
forecast_checks: list = [
    forecasts_are_non_negative,
    forecast_intervals_contain_point,
    forecast_accuracy_recorded,
    published_forecast_beats_best_baseline,
    forecast_interval_coverage_measured,
    stockout_covers_every_counted_product,
]
