"""Sales forecasts: candidate models scored by backtests, the best one published per series, stock-out forecasts.

series.py reads the daily series from the marts; holidays.py builds Prophet's holiday table (main markets'
public holidays and the shop's peak events); model.py holds the shared settings, the model version and the
Prophet candidate; classical.py the ETS and Theta candidates (statsmodels) and the baselines' in-sample fit;
candidates.py fits any candidate (names.py lists them); backtest.py and metrics.py score every candidate on
rolling-origin folds; selection.py picks the lowest backtest MASE per series; intervals.py calibrates the 80 %
interval on the backtest errors and measures its coverage on held-out folds; forecast.py writes the published
forecast table; stockout.py turns the category unit forecasts into days until stock-out and reorder
quantities. No Dagster here (orchestration/defs/ml/).
"""

from ml.forecasting.backtest import ACCURACY_CASTS, ACCURACY_COLUMNS, backtest
from ml.forecasting.candidates import predict_candidates
from ml.forecasting.forecast import FORECAST_CASTS, FORECAST_COLUMNS, forecast_daily_sales
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
from ml.forecasting.model import HORIZON_DAYS, ForecastSettings
from ml.forecasting.names import (
    BASELINES,
    COMBINATION,
    ETS,
    MODELS,
    MOVING_AVERAGE,
    PROPHET,
    SEASONAL_NAIVE,
    THETA,
)
from ml.forecasting.pipeline import ForecastInputs, load_forecast_inputs
from ml.forecasting.selection import CHOICE_COLUMNS, model_choice, read_model_choice
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
    "BASELINES",
    "CHOICE_COLUMNS",
    "COMBINATION",
    "ETS",
    "FORECAST_CASTS",
    "FORECAST_COLUMNS",
    "HORIZON_DAYS",
    "MODELS",
    "MOVING_AVERAGE",
    "PROPHET",
    "SEASONAL_NAIVE",
    "STOCKOUT_CASTS",
    "STOCKOUT_COLUMNS",
    "THETA",
    "TOTAL_SERIES",
    "ForecastInputs",
    "ForecastSettings",
    "backtest",
    "choose_main_markets",
    "days_until_stockout",
    "forecast_daily_sales",
    "holiday_table",
    "load_forecast_inputs",
    "mae",
    "mape",
    "mase",
    "model_choice",
    "moving_average_forecast",
    "predict_candidates",
    "read_category_unit_forecast",
    "read_daily_series",
    "read_inventory_demand",
    "read_main_markets",
    "read_model_choice",
    "seasonal_naive_forecast",
    "seasonal_naive_scale",
    "shop_events",
    "smape",
    "stockout_forecast",
]
