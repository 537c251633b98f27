"""Forecasting assets: Prophet sales forecasts, their backtests, and the stock-out forecast per product.

The code lives in `ml/forecasting/` (no Dagster there); these assets read the marts, write schema `ml` and put
the metrics on the materializations. Every table is replaced whole, and the same data give the same rows and
the same model version. The weekly `ml_weekly_refit` job re-fits the forecasts and backtests (schedules.py);
the daily refresh recomputes the stock-out forecast on the current stock; every build runs all three.
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
    MOVING_AVERAGE,
    PROPHET,
    SEASONAL_NAIVE,
    STOCKOUT_CASTS,
    TOTAL_SERIES,
    backtest,
    forecast_daily_sales,
    load_forecast_inputs,
    read_category_unit_forecast,
    read_inventory_demand,
    stockout_forecast,
)
from ml.forecasting.backtest import N_FOLDS
from ml.forecasting.stockout import LEAD_TIME_DAYS
from ml.warehouse import ML_SCHEMA, InsufficientDataError, read_as_of_date, replace_table, table_exists
from orchestration.defs.ml.common import ML_GROUP, absent_table, connect, metric_metadata, skipped, timed
from orchestration.defs.resources import WarehouseResource

FORECAST_TABLE = "forecast_daily_sales"
ACCURACY_TABLE = "forecast_accuracy"
STOCKOUT_TABLE = "stockout_forecast"
FORECAST_KEY = AssetKey([ML_SCHEMA, FORECAST_TABLE])
ACCURACY_KEY = AssetKey([ML_SCHEMA, ACCURACY_TABLE])
STOCKOUT_KEY = AssetKey([ML_SCHEMA, STOCKOUT_TABLE])
MIN_FOLDS = 3  # the minimum; the backtest runs N_FOLDS

# The relations ml/forecasting/series.py reads (and mart_kpis for the as-of date).
SALES_INPUTS = [
    AssetKey(["marts", "mart_daily_sales"]),
    AssetKey(["marts", "mart_sales_by_country"]),
    AssetKey(["marts", "mart_kpis"]),
]
# ml/forecasting/stockout.py reads these besides the forecast table.
STOCK_INPUTS = [
    AssetKey(["marts", "mart_inventory"]),
    AssetKey(["marts", "fct_order_lines"]),
    AssetKey(["marts", "mart_kpis"]),
]


@asset(
    key=FORECAST_KEY,
    deps=SALES_INPUTS,
    group_name=ML_GROUP,
    kinds={"python", "prophet", "duckdb"},
    description=(
        "Daily Prophet forecasts, 90 days past the as-of date with 80 % intervals, of the shop's revenue and of "
        "revenue and units per category (weekly and yearly seasonality, the main markets' public holidays, "
        "Black Friday, Cyber Monday, Christmas and January sales), with the actuals and the in-sample fit of "
        "the history. Re-fitted weekly (schedule ml_weekly_refit) and on every build."
    ),
)
def forecast_daily_sales_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    started = time.monotonic()
    with timed(context, "ml.forecast_daily_sales") as done, connect(warehouse) as con:
        inputs = load_forecast_inputs(con)
        try:
            table, version = forecast_daily_sales(inputs.series, inputs.as_of, inputs.settings)
        except InsufficientDataError as error:
            return skipped(context, con, [FORECAST_TABLE], error)
        replace_table(con, FORECAST_TABLE, table, casts=FORECAST_CASTS)
        done(len(table))
    runtime = time.monotonic() - started
    future = table[table["is_forecast"]]
    total = future[future["series"] == TOTAL_SERIES].sort_values("date_day")
    next_30 = float(total["yhat"].head(30).sum())
    next_90 = float(total["yhat"].sum())
    markets = ", ".join(inputs.settings.main_markets) or "none"
    horizon = inputs.settings.horizon_days
    context.log.info(f"{inputs.series_count} series x {horizon} days ({version}) in {runtime:.1f}s")
    return MaterializeResult(
        metadata={
            "summary": (
                f"{inputs.series_count} series x {horizon} days ({version}); shop revenue next 30 days "
                f"{next_30:,.0f}, next {horizon} days {next_90:,.0f}; holidays of {markets}"
            ),
            "model_version": version,
            "as_of_date": inputs.as_of.isoformat(),
            "series": inputs.series_count,
            "horizon_days": horizon,
            "rows": len(table),
            "forecast_rows": len(future),
            "revenue_next_30_days": next_30,
            f"revenue_next_{horizon}_days": next_90,
            "holiday_markets": markets,
            "runtime_seconds": round(runtime, 2),
        }
    )


@asset(
    key=ACCURACY_KEY,
    deps=[*SALES_INPUTS, FORECAST_KEY],
    group_name=ML_GROUP,
    kinds={"python", "prophet", "duckdb"},
    description=(
        f"Rolling-origin backtests ({N_FOLDS} folds of 30 days over the last year) of every forecast series: "
        "MAE, MAPE, sMAPE and MASE of Prophet next to a seasonal-naive baseline (same weekday last week) and a "
        "28-day moving average, per fold and overall (mean of the folds)."
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
    overall = table[table["scope"] == "overall"].pivot(index="series", columns="model", values="mase")
    folds = int(table["fold"].max()) if len(table) else 0
    metadata: dict[str, Any] = {
        "model_version": inputs.version,
        "folds": folds,
        "rows": len(table),
        "runtime_seconds": round(runtime, 2),
    }
    if overall.empty or not set(MODELS) <= set(overall.columns):
        summary = "no backtest: not enough history"
    else:
        wins = overall[PROPHET] < overall[SEASONAL_NAIVE]
        losers = sorted(overall.index[~wins])
        total = overall.loc[TOTAL_SERIES] if TOTAL_SERIES in overall.index else None
        head = (
            f"total MASE prophet {total[PROPHET]:.2f} vs seasonal-naive {total[SEASONAL_NAIVE]:.2f} "
            f"(28-day average {total[MOVING_AVERAGE]:.2f}); " if total is not None else ""
        )
        summary = (
            f"{head}Prophet beats seasonal-naive on {int(wins.sum())} of {len(overall)} series"
            + (f" (not on {', '.join(losers)})" if losers else "")
        )
        metadata["series_prophet_beats_seasonal_naive"] = int(wins.sum())
        metadata["series_prophet_beats_moving_average"] = int((overall[PROPHET] < overall[MOVING_AVERAGE]).sum())
        metadata["series_prophet_does_not_beat_seasonal_naive"] = MetadataValue.json(losers)
        if total is not None:
            total_rows = table[(table["series"] == TOTAL_SERIES) & (table["scope"] == "overall")].set_index("model")
            for model in MODELS:
                metadata.update(metric_metadata({
                    f"total_{metric}_{model}": total_rows.loc[model, metric] for metric in ("mase", "mape", "smape")
                }))
    metadata["summary"] = summary
    context.log.info(summary)
    return MaterializeResult(metadata=metadata)


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
        inventory = read_inventory_demand(con, as_of)
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
    asset=ACCURACY_KEY,
    additional_deps=[FORECAST_KEY],
    description=(
        f"Every forecast series has backtest accuracy for every model: at least {MIN_FOLDS} folds with a MASE "
        "and an overall row, all of this model version."
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
        expected = con.execute(f"select count(distinct series) from {ML_SCHEMA}.{FORECAST_TABLE}").fetchone()
    series_count = expected[0] if expected else 0
    return AssetCheckResult(
        passed=not gaps and series_count > 0,
        metadata={
            "series": series_count,
            "models": len(MODELS),
            "missing": MetadataValue.json([f"{s} / {m}: {f} folds, {o} overall rows" for s, m, f, o in gaps]),
        },
    )


@asset_check(
    asset=ACCURACY_KEY,
    description="Prophet's overall MASE on the shop's revenue is below the seasonal-naive baseline's.",
)
def prophet_beats_seasonal_naive_on_total(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, ACCURACY_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        rows = dict(
            con.execute(
                f"""
                select model, mase from {ML_SCHEMA}.{ACCURACY_TABLE}
                where series = ? and scope = 'overall' and model in (?, ?)
                """,
                [TOTAL_SERIES, PROPHET, SEASONAL_NAIVE],
            ).fetchall()
        )
    prophet, naive = rows.get(PROPHET), rows.get(SEASONAL_NAIVE)
    return AssetCheckResult(
        passed=prophet is not None and naive is not None and prophet < naive,
        # A forecast that loses to the baseline is still published; say so loudly instead of failing the build.
        severity=AssetCheckSeverity.WARN,
        metadata={"series": TOTAL_SERIES, **metric_metadata({"mase_prophet": prophet, "mase_seasonal_naive": naive})}
        if prophet is not None and naive is not None
        else {"series": TOTAL_SERIES, "reason": "no overall accuracy recorded for the total series"},
    )


@asset_check(asset=STOCKOUT_KEY, description="One row per product counted in mart_inventory, none negative.")
def stockout_covers_every_counted_product(warehouse: WarehouseResource) -> AssetCheckResult:
    if (absent := absent_table(warehouse, STOCKOUT_TABLE)) is not None:
        return absent
    with connect(warehouse) as con:
        row = con.execute(
            f"""
            select
                (select count(distinct product_id) from marts.mart_inventory),
                count(*),
                count(distinct product_id),
                count(*) filter (where reorder_quantity < 0 or days_until_stockout < 0 or safety_stock < 0)
            from {ML_SCHEMA}.{STOCKOUT_TABLE}
            """
        ).fetchone()
    counted, rows, distinct, negative = row or (0, 0, 0, 0)
    return AssetCheckResult(
        passed=rows == distinct == counted and negative == 0,
        metadata={"counted_products": counted, "rows": rows, "distinct_products": distinct, "negative": negative},
    )


forecast_assets: list = [forecast_daily_sales_asset, forecast_accuracy_asset, stockout_forecast_asset]
forecast_checks: list = [
    forecasts_are_non_negative,
    forecast_intervals_contain_point,
    forecast_accuracy_recorded,
    prophet_beats_seasonal_naive_on_total,
    stockout_covers_every_counted_product,
]
