"""Stock-out forecast and reorder quantity per product, from the category unit forecasts.

Demand. A product's daily demand forecast is its category's published unit forecast (``units:<category>`` of
ml.forecast_daily_sales, by whichever model the backtest chose for that series: the clipped yhat of the
HORIZON_DAYS after the as-of date) times the product's
share of its category's units over the last days up to the as-of date (the dbt var stockout_demand_window_days,
90; completed lines, matched on the order line's source product id as mart_inventory does):
d(t) = share x category_yhat(t). A product that sold
nothing in the window has share 0 and no demand.

Days until stock-out. The first moment the cumulative forecast demand reaches the current stock (the
product's stock across warehouses at the latest snapshot, mart_inventory.product_stock), interpolated
linearly within the day: with D(k) = d(1) + ... + d(k) and stock S, the first k with D(k) >= S gives
k - 1 + (S - D(k-1)) / d(k). 0 when the stock is 0 (or below); null when the forecast demand of the whole
horizon does not use the stock up (no stock-out expected within HORIZON_DAYS).

Reorder quantity (periodic review, order-up-to). Forecasts are re-fitted weekly, so stock is reviewed every
REVIEW_PERIOD_DAYS and an order takes LEAD_TIME_DAYS to arrive; an order placed now must cover the
protection period P = LEAD_TIME_DAYS + REVIEW_PERIOD_DAYS:

    safety_stock      = z x sigma_daily x sqrt(P)
    order_up_to_level = (d(1) + ... + d(P)) + safety_stock
    reorder_quantity  = max(0, ceil(order_up_to_level - current stock))

z is the standard normal quantile of SERVICE_LEVEL (95 % -> 1.645) and sigma_daily the standard deviation
of the product's daily units sold over the share window (every day counted, days without sales as 0).
With REVIEW_PERIOD_DAYS = 0 this is the continuous-review reorder point, demand over the lead time +
z sigma sqrt(lead time). Stock on order is not known to the warehouse and is not subtracted.
"""

from __future__ import annotations

import logging
import math
from datetime import date
from statistics import NormalDist

import duckdb
import numpy as np
import pandas as pd

from ml.warehouse import features

logger = logging.getLogger(__name__)

LEAD_TIME_DAYS = 14
REVIEW_PERIOD_DAYS = 7
SERVICE_LEVEL = 0.95

STOCKOUT_COLUMNS: tuple[str, ...] = (
    "product_id",
    "product_name",
    "category",
    "is_unknown_product",
    "current_stock",
    "units_sold_window",
    "category_share",
    "forecast_daily_demand",
    "demand_over_lead_time",
    "demand_std_daily",
    "safety_stock",
    "order_up_to_level",
    "reorder_quantity",
    "days_until_stockout",
    "stockout_date",
    "stockout_within_lead_time",
    "as_of_date",
    "lead_time_days",
    "review_period_days",
    "service_level",
    "model_version",
)
# Column types in the warehouse (so an empty table has the same columns and types as a full one).
STOCKOUT_CASTS: dict[str, str] = {
    "product_id": "varchar",
    "product_name": "varchar",
    "category": "varchar",
    "is_unknown_product": "boolean",
    "current_stock": "bigint",
    "units_sold_window": "bigint",
    "category_share": "double",
    "forecast_daily_demand": "double",
    "demand_over_lead_time": "double",
    "demand_std_daily": "double",
    "safety_stock": "double",
    "order_up_to_level": "double",
    "reorder_quantity": "bigint",
    "days_until_stockout": "double",
    "stockout_date": "date",
    "stockout_within_lead_time": "boolean",
    "as_of_date": "date",
    "lead_time_days": "integer",
    "review_period_days": "integer",
    "service_level": "double",
    "model_version": "varchar",
}
INVENTORY_MODEL = "feat_stockout__products"  # the dbt feature model: stock and window demand per counted product
INVENTORY_COLUMNS: tuple[str, ...] = (
    "product_id",
    "product_name",
    "category",
    "is_unknown_product",
    "current_stock",
    "units_sold_window",
    "category_units_window",
    "demand_std_daily",
)


def empty_stockout_table() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="object") for column in STOCKOUT_COLUMNS})


def read_inventory_demand(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per counted product (INVENTORY_COLUMNS): stock, units sold in the window, category units, sigma.

    Read from the feature model INVENTORY_MODEL; empty when mart_inventory is empty (no inventory source).
    """
    return features(con, INVENTORY_MODEL).order("product_id").project(", ".join(INVENTORY_COLUMNS)).df()


def read_category_unit_forecast(con: duckdb.DuckDBPyConnection, table: str) -> tuple[pd.DataFrame, str]:
    """The future daily units per category from the sales forecast table (``ml.<table>``), and its version."""
    forecast = con.execute(
        f"""
        select category, date_day as ds, yhat, model_version
        from ml.{table}
        where is_forecast and measure = 'units'
        """
    ).df()
    return forecast, str(forecast["model_version"].iloc[0]) if len(forecast) else ""


def days_until_stockout(stock: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Days until the cumulative demand (products x days) reaches the stock, interpolated; NaN if never."""
    stock = np.asarray(stock, dtype=float)
    demand = np.asarray(demand, dtype=float).reshape(len(stock), -1)
    out_of_stock = stock <= 0
    if demand.shape[1] == 0:
        return np.where(out_of_stock, 0.0, np.nan)
    cumulative = np.cumsum(demand, axis=1)
    reached = cumulative >= stock[:, None]
    first = np.argmax(reached, axis=1)
    rows = np.arange(len(stock))
    before = np.where(first > 0, cumulative[rows, np.maximum(first - 1, 0)], 0.0)
    that_day = demand[rows, first]
    fraction = np.divide(stock - before, that_day, out=np.zeros(len(stock)), where=that_day > 0)
    days = np.where(reached.any(axis=1), first + np.clip(fraction, 0.0, 1.0), np.nan)
    return np.where(out_of_stock, 0.0, days)


def stockout_forecast(
    inventory: pd.DataFrame,
    category_forecast: pd.DataFrame,
    as_of: date,
    model_version: str,
    lead_time_days: int = LEAD_TIME_DAYS,
    review_period_days: int = REVIEW_PERIOD_DAYS,
    service_level: float = SERVICE_LEVEL,
) -> pd.DataFrame:
    """The stock-out table (STOCKOUT_COLUMNS), one row per counted product.

    ``inventory``: INVENTORY_COLUMNS (read_inventory_demand). ``category_forecast``: columns category, ds,
    yhat for the days after ``as_of`` (units per category; a category without a forecast has no demand).
    """
    if inventory.empty:
        return empty_stockout_table()
    forecast = category_forecast[pd.to_datetime(category_forecast["ds"]) > pd.Timestamp(as_of)]
    grid = forecast.pivot_table(index="category", columns="ds", values="yhat", aggfunc="sum").sort_index(axis=1)
    horizon = grid.shape[1]
    category_demand = grid.reindex(inventory["category"]).fillna(0.0).to_numpy(dtype=float)
    if horizon == 0:
        category_demand = np.zeros((len(inventory), 0))

    category_units = inventory["category_units_window"].to_numpy(dtype=float)
    sold = inventory["units_sold_window"].to_numpy(dtype=float)
    share = np.divide(sold, category_units, out=np.zeros(len(inventory)), where=category_units > 0)
    demand = share[:, None] * category_demand
    stock = inventory["current_stock"].to_numpy(dtype=float)
    sigma = inventory["demand_std_daily"].fillna(0.0).to_numpy(dtype=float)

    protection = lead_time_days + review_period_days
    z = NormalDist().inv_cdf(service_level)
    safety = z * sigma * math.sqrt(protection)
    order_up_to = demand[:, :protection].sum(axis=1) + safety
    reorder = np.maximum(0.0, np.ceil(order_up_to - stock - 1e-9))
    days = days_until_stockout(stock, demand)
    # The day on which the stock runs out: as-of + ceil(days) (the as-of date itself when already out).
    stockout_dates = pd.Timestamp(as_of) + pd.to_timedelta(np.ceil(days), unit="D")

    table = pd.DataFrame({
        "product_id": inventory["product_id"],
        "product_name": inventory["product_name"],
        "category": inventory["category"],
        "is_unknown_product": inventory["is_unknown_product"].astype(bool),
        "current_stock": inventory["current_stock"].astype("int64"),
        "units_sold_window": inventory["units_sold_window"].astype("int64"),
        "category_share": share,
        "forecast_daily_demand": demand.mean(axis=1) if horizon else np.zeros(len(inventory)),
        "demand_over_lead_time": demand[:, :lead_time_days].sum(axis=1),
        "demand_std_daily": sigma,
        "safety_stock": safety,
        "order_up_to_level": order_up_to,
        "reorder_quantity": reorder.astype("int64"),
        "days_until_stockout": days,
        "stockout_date": stockout_dates,
        "stockout_within_lead_time": np.nan_to_num(days, nan=np.inf) < lead_time_days,
        "as_of_date": pd.Timestamp(as_of),
        "lead_time_days": lead_time_days,
        "review_period_days": review_period_days,
        "service_level": service_level,
        "model_version": model_version,
    })
    logger.info(
        "stock-out forecast for %d products: %d expected to run out within %d days",
        len(table), int(np.isfinite(days).sum()), horizon,
    )
    return table[list(STOCKOUT_COLUMNS)]
