"""Sales forecasts (Prophet), their backtests against naive baselines, and stock-out forecasts per product.

series.py reads the daily series from the marts, holidays.py builds the holiday table (main markets' public
holidays and the shop's peak events), model.py fits Prophet and writes the forecast table, backtest.py and
metrics.py score it against a seasonal-naive and a moving-average baseline, stockout.py turns the category
unit forecasts into days until stock-out and reorder quantities. No Dagster here (orchestration/defs/ml/).
"""

from ml.forecasting.backtest import (
    ACCURACY_CASTS,
    ACCURACY_COLUMNS,
    MODELS,
    MOVING_AVERAGE,
    PROPHET,
    SEASONAL_NAIVE,
    backtest,
)
from ml.forecasting.holidays import choose_main_markets, holiday_table, shop_events
from ml.forecasting.metrics import (
    mae,
    mape,
    mase,
    moving_average_forecast,
    seasonal_naive_forecast,
    seasonal_naive_scale,
    smape,
)
from ml.forecasting.model import FORECAST_CASTS, FORECAST_COLUMNS, HORIZON_DAYS, ProphetSettings, forecast_daily_sales
from ml.forecasting.pipeline import ForecastInputs, load_forecast_inputs
from ml.forecasting.series import TOTAL_SERIES, read_daily_series, read_main_markets
from ml.forecasting.stockout import (
    STOCKOUT_CASTS,
    STOCKOUT_COLUMNS,
    days_until_stockout,
    read_category_unit_forecast,
    read_inventory_demand,
    stockout_forecast,
)

__all__ = [
    "ACCURACY_CASTS",
    "ACCURACY_COLUMNS",
    "FORECAST_CASTS",
    "FORECAST_COLUMNS",
    "HORIZON_DAYS",
    "MODELS",
    "MOVING_AVERAGE",
    "PROPHET",
    "SEASONAL_NAIVE",
    "STOCKOUT_CASTS",
    "STOCKOUT_COLUMNS",
    "TOTAL_SERIES",
    "ForecastInputs",
    "ProphetSettings",
    "backtest",
    "choose_main_markets",
    "days_until_stockout",
    "forecast_daily_sales",
    "holiday_table",
    "load_forecast_inputs",
    "mae",
    "mape",
    "mase",
    "moving_average_forecast",
    "read_category_unit_forecast",
    "read_daily_series",
    "read_inventory_demand",
    "read_main_markets",
    "seasonal_naive_forecast",
    "seasonal_naive_scale",
    "shop_events",
    "smape",
    "stockout_forecast",
]
