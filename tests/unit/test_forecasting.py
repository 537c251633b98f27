"""Forecasting on synthetic series and hand-made warehouses: metrics, baselines, Prophet, stock-out, quiet logs."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ml.forecasting import (
    ACCURACY_COLUMNS,
    FORECAST_CASTS,
    FORECAST_COLUMNS,
    STOCKOUT_CASTS,
    STOCKOUT_COLUMNS,
    ProphetSettings,
    backtest,
    choose_main_markets,
    days_until_stockout,
    forecast_daily_sales,
    holiday_table,
    mae,
    mape,
    mase,
    moving_average_forecast,
    read_daily_series,
    read_inventory_demand,
    seasonal_naive_forecast,
    seasonal_naive_scale,
    smape,
    stockout_forecast,
)
from ml.forecasting.backtest import fold_origins
from ml.forecasting.holidays import black_friday
from ml.forecasting.stockout import INVENTORY_COLUMNS
from ml.warehouse import replace_table

REPO_ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2025, 6, 30)
# No country holidays and few interval samples: the unit tests are about the method, not the markets.
FAST = ProphetSettings(uncertainty_samples=200, main_markets=())


def _synthetic(days: int = 420, seed: int = 7, level: float = 100.0, noise: float = 6.0) -> pd.DataFrame:
    """Daily series ending at AS_OF: linear trend + a strong weekly pattern + Gaussian noise."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(end=pd.Timestamp(AS_OF), periods=days, freq="D")
    weekly = np.array([1.25, 1.05, 0.95, 0.95, 0.9, 0.7, 1.2])[ds.day_of_week]
    y = (level + 0.08 * np.arange(days)) * weekly + rng.normal(0.0, noise, days)
    return pd.DataFrame(
        {"series": "revenue:total", "measure": "revenue", "category": "All categories", "ds": ds, "y": y}
    )


# --------------------------------------------------------------------------------------------
# Metrics and baselines against hand-computed values


def test_mae_mape_and_smape_match_hand_computed_values() -> None:
    actual = np.array([1.0, 2.0, 0.0, 4.0])
    forecast = np.array([2.0, 2.0, 1.0, 2.0])
    assert mae(actual, forecast) == pytest.approx((1 + 0 + 1 + 2) / 4)
    # MAPE skips the zero actual: (1/1 + 0/2 + 2/4) / 3
    assert mape(actual, forecast) == pytest.approx(100 * (1.0 + 0.0 + 0.5) / 3)
    # sMAPE: 2|y-f| / (|y|+|f|) = 2/3, 0, 2/1, 4/6
    assert smape(actual, forecast) == pytest.approx(100 * (2 / 3 + 0 + 2 + 4 / 6) / 4)


def test_smape_counts_a_day_with_both_zero_as_perfect_and_mape_is_undefined_without_nonzero_actuals() -> None:
    assert smape(np.array([0.0, 2.0]), np.array([0.0, 2.0])) == 0.0
    assert smape(np.array([0.0]), np.array([3.0])) == pytest.approx(200.0)
    assert math.isnan(mape(np.array([0.0, 0.0]), np.array([1.0, 2.0])))


def test_mase_is_scaled_by_the_in_sample_lag_7_seasonal_naive_mae() -> None:
    train = np.array([1, 2, 3, 4, 5, 6, 7, 2, 2, 3, 4, 5, 6, 9], dtype=float)
    # lag-7 differences: |2-1|, 0, 0, 0, 0, 0, |9-7| -> scale 3/7
    assert seasonal_naive_scale(train) == pytest.approx(3 / 7)
    actual = np.array([10.0, 10.0])
    forecast = np.array([9.0, 11.0])  # MAE 1
    assert mase(actual, forecast, train) == pytest.approx(7 / 3)
    # A constant weekly pattern has no naive error to scale by.
    assert math.isnan(mase(actual, forecast, np.tile(np.arange(7.0), 3)))


def test_seasonal_naive_repeats_the_last_week_and_the_moving_average_is_flat() -> None:
    train = np.arange(1.0, 31.0)  # 1..30
    assert seasonal_naive_forecast(train, 10).tolist() == [24, 25, 26, 27, 28, 29, 30, 24, 25, 26]
    assert moving_average_forecast(train, 3).tolist() == [np.mean(np.arange(3.0, 31.0))] * 3


def test_folds_end_at_the_as_of_date_and_step_back_within_the_last_year() -> None:
    origins = fold_origins(date(2024, 1, 1), date(2025, 12, 31))
    assert len(origins) >= 3
    assert origins == sorted(origins)
    assert origins[-1] + timedelta(days=30) == date(2025, 12, 31)
    assert all(date(2025, 12, 31) - o <= timedelta(days=365) for o in origins)
    # Not enough history before the older origins: those folds are dropped, not trained on a few days.
    assert len(fold_origins(date(2025, 9, 1), date(2025, 12, 31))) < len(origins)


# --------------------------------------------------------------------------------------------
# Holidays


def test_black_friday_is_the_day_after_the_fourth_thursday_of_november() -> None:
    assert black_friday(2024) == date(2024, 11, 29)  # November 2024 starts on a Friday
    assert black_friday(2025) == date(2025, 11, 28)
    assert black_friday(2026) == date(2026, 11, 27)


def test_main_markets_cover_half_the_revenue_with_at_most_three_countries() -> None:
    markets = pd.DataFrame({"country_code": ["FR", "GB", "DE", "ES"], "revenue": [30.0, 15.0, 10.0, 45.0]})
    ordered = markets.sort_values("revenue", ascending=False)
    assert choose_main_markets(ordered) == ["ES", "FR"]  # 45 + 30 >= 50
    flat = pd.DataFrame({"country_code": ["FR", "GB", "DE", "ES"], "revenue": [10.0] * 4})
    assert choose_main_markets(flat) == ["FR", "GB"]
    many = pd.DataFrame({"country_code": ["FR", "GB", "DE", "ES", "IT"], "revenue": [10.0] * 5})
    assert choose_main_markets(many, share=0.9) == ["FR", "GB", "DE"]
    assert choose_main_markets(pd.DataFrame({"country_code": ["XX"], "revenue": [1.0]})) == []


def test_holiday_table_merges_markets_and_adds_the_shop_events() -> None:
    table = holiday_table(["FR", "GB", "DE"], 2024, 2025)
    christmas = table[table["holiday"] == "Christmas Day"]
    assert christmas["ds"].dt.strftime("%Y-%m-%d").tolist() == ["2024-12-25", "2025-12-25"]  # once per year
    friday = table[table["holiday"] == "black_friday"]
    assert friday["ds"].dt.date.tolist() == [date(2024, 11, 29), date(2025, 11, 28)]
    assert set(friday["lower_window"]) == {-7}
    sales = table[table["holiday"] == "january_sales"]
    assert len(sales) == 2 * 27 and set(sales["upper_window"]) == {0}  # one effect for the whole period
    assert not table.duplicated(["ds", "holiday"]).any()


# --------------------------------------------------------------------------------------------
# Prophet


def test_prophet_beats_seasonal_naive_on_a_series_with_a_weekly_pattern_and_a_trend() -> None:
    series = _synthetic()
    table = backtest(series, AS_OF, FAST, "test", n_folds=3, step=60)
    assert list(table.columns) == list(ACCURACY_COLUMNS)
    folds = table[table["scope"] == "fold"]
    assert folds.groupby("model")["fold"].nunique().to_dict() == {
        "moving_average_28d": 3, "prophet": 3, "seasonal_naive": 3,
    }
    overall = table[table["scope"] == "overall"].set_index("model")["mase"]
    assert overall["prophet"] < overall["seasonal_naive"]
    # The overall row is the mean of the folds.
    assert overall["prophet"] == pytest.approx(folds[folds["model"] == "prophet"]["mase"].mean())
    prophet_rows = table[table["model"] == "prophet"]
    assert (prophet_rows["beats_seasonal_naive"] == (prophet_rows["mase"] < table.loc[
        table["model"] == "seasonal_naive", "mase"].to_numpy())).all()
    assert table.loc[table["model"] == "seasonal_naive", "beats_seasonal_naive"].isna().all()


def test_forecast_table_has_history_and_horizon_with_non_negative_ordered_intervals() -> None:
    # A low series with big swings: Prophet's raw forecast dips below 0 on the quiet days.
    series = _synthetic(days=200, level=4.0, noise=3.0)
    table, version = forecast_daily_sales(series, AS_OF, FAST)
    assert list(table.columns) == list(FORECAST_COLUMNS)
    assert version.startswith(f"prophet-{AS_OF.isoformat()}-")
    history, future = table[~table["is_forecast"]], table[table["is_forecast"]]
    assert len(history) == 200 and len(future) == FAST.horizon_days
    assert history["actual"].to_numpy() == pytest.approx(series["y"].to_numpy())
    assert future["actual"].isna().all()
    assert future["date_day"].min() == pd.Timestamp(AS_OF + timedelta(days=1))
    assert (table[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert ((table["yhat_lower"] <= table["yhat"]) & (table["yhat"] <= table["yhat_upper"])).all()
    assert (table["yhat_lower"] == 0).any(), "the synthetic series should need clipping"


def test_the_same_data_give_the_same_table_and_version_and_other_data_another_version() -> None:
    series = _synthetic(days=150)
    first, version = forecast_daily_sales(series, AS_OF, FAST)
    again, version_again = forecast_daily_sales(series, AS_OF, FAST)
    pd.testing.assert_frame_equal(first, again)
    assert version == version_again
    changed = series.assign(y=series["y"].where(series.index != 10, series["y"] + 1))
    assert forecast_daily_sales(changed, AS_OF, FAST)[1] != version
    # Seeding the intervals does not leak into numpy's global generator.
    np.random.seed(1)
    expected = np.random.random()
    np.random.seed(1)
    forecast_daily_sales(series, AS_OF, FAST)
    assert np.random.random() == expected


def test_forecast_table_writes_with_its_types(tmp_path: Path) -> None:
    table, _ = forecast_daily_sales(_synthetic(days=120), AS_OF, FAST)
    with duckdb.connect() as con:
        replace_table(con, "forecast_daily_sales", table, casts=FORECAST_CASTS)
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 'forecast_daily_sales'").fetchall())
        nulls = con.execute("select count(*) from ml.forecast_daily_sales where actual is null").fetchone()
    assert types["date_day"] == "DATE" and types["is_forecast"] == "BOOLEAN" and types["actual"] == "DOUBLE"
    assert nulls == (FAST.horizon_days,)


def test_prophet_and_cmdstanpy_stay_quiet() -> None:
    """A fresh process that imports Prophet and fits a model prints nothing (no plotly line, no Chain lines)."""
    code = (
        "import logging, numpy as np, pandas as pd\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "from ml.forecasting.quiet import import_prophet\n"
        "Prophet = import_prophet()\n"
        "ds = pd.date_range('2025-01-01', periods=120)\n"
        "Prophet().fit(pd.DataFrame({'ds': ds, 'y': np.arange(120.0) % 7}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", done.stdout + done.stderr


# --------------------------------------------------------------------------------------------
# Stock-out


def _inventory(**overrides: object) -> pd.DataFrame:
    row = {
        "product_id": "P1", "product_name": "Mug", "category": "Home", "is_unknown_product": False,
        "current_stock": 7, "units_sold_window": 18, "category_units_window": 90, "demand_std_daily": 1.0,
    }
    row.update(overrides)
    return pd.DataFrame([row])[list(INVENTORY_COLUMNS)]


def _category_forecast(category: str, daily: list[float]) -> pd.DataFrame:
    ds = pd.date_range(pd.Timestamp(AS_OF) + pd.Timedelta(days=1), periods=len(daily), freq="D")
    return pd.DataFrame({"category": category, "ds": ds, "yhat": daily})


def test_stockout_and_reorder_follow_the_documented_formula() -> None:
    # Category forecast 10 units a day, product share 18/90 = 0.2 -> 2 units a day; stock 7 lasts 3.5 days.
    table = stockout_forecast(_inventory(), _category_forecast("Home", [10.0] * 90), AS_OF, "v1",
                              lead_time_days=14, review_period_days=7, service_level=0.95)
    row = table.iloc[0]
    assert list(table.columns) == list(STOCKOUT_COLUMNS)
    assert row["category_share"] == pytest.approx(0.2)
    assert row["forecast_daily_demand"] == pytest.approx(2.0)
    assert row["demand_over_lead_time"] == pytest.approx(28.0)
    assert row["days_until_stockout"] == pytest.approx(3.5)
    assert row["stockout_date"] == pd.Timestamp(AS_OF + timedelta(days=4))
    assert bool(row["stockout_within_lead_time"])
    safety = norm.ppf(0.95) * 1.0 * math.sqrt(21)  # z * sigma * sqrt(lead time + review period)
    assert row["safety_stock"] == pytest.approx(safety)
    assert row["order_up_to_level"] == pytest.approx(2.0 * 21 + safety)
    assert row["reorder_quantity"] == math.ceil(2.0 * 21 + safety - 7)


def test_plenty_of_stock_needs_no_reorder_and_has_no_stockout_within_the_horizon() -> None:
    table = stockout_forecast(_inventory(current_stock=10_000), _category_forecast("Home", [10.0] * 90), AS_OF, "v")
    row = table.iloc[0]
    assert math.isnan(row["days_until_stockout"]) and pd.isna(row["stockout_date"])
    assert row["reorder_quantity"] == 0 and not bool(row["stockout_within_lead_time"])


def test_days_until_stockout_interpolates_within_the_day() -> None:
    demand = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0]])
    stock = np.array([4.0, 10.0, 0.0, 3.0])
    days = days_until_stockout(stock, demand)
    assert days[0] == pytest.approx(2 + (4 - 3) / 3)  # cumulative 1, 3, 6: runs out a third into day 3
    assert math.isnan(days[1])  # 4 units of demand never use up 10
    assert days[2] == 0.0  # already out of stock
    assert math.isnan(days[3])  # no demand


def test_a_product_without_sales_or_forecast_has_no_demand() -> None:
    inventory = pd.concat([_inventory(units_sold_window=0), _inventory(product_id="P2", category="Nothing")])
    table = stockout_forecast(inventory, _category_forecast("Home", [10.0] * 90), AS_OF, "v")
    assert table["forecast_daily_demand"].tolist() == [0.0, 0.0]
    assert table["days_until_stockout"].isna().all()


def test_no_inventory_gives_an_empty_table_with_the_right_columns_and_types() -> None:
    empty = pd.DataFrame(columns=list(INVENTORY_COLUMNS))
    table = stockout_forecast(empty, _category_forecast("Home", [1.0] * 90), AS_OF, "v")
    assert table.empty and list(table.columns) == list(STOCKOUT_COLUMNS)
    with duckdb.connect() as con:
        replace_table(con, "stockout_forecast", table, casts=STOCKOUT_CASTS)
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 'stockout_forecast'").fetchall())
    assert list(types) == list(STOCKOUT_COLUMNS)
    assert types["reorder_quantity"] == "BIGINT" and types["stockout_date"] == "DATE"


# --------------------------------------------------------------------------------------------
# Reading from a hand-made warehouse

MARTS_SQL = """
create schema marts;
create table marts.mart_daily_sales (date_day date, category varchar, units bigint, revenue decimal(18, 2));
create table marts.mart_inventory (
    product_id varchar, product_name varchar, category varchar, is_unknown_product boolean, warehouse_id varchar,
    product_stock bigint
);
create table marts.fct_order_lines (
    source_product_id varchar, category varchar, order_date date, quantity integer, is_sale boolean
);
"""


def test_series_start_at_the_first_sale_stop_at_the_as_of_date_and_add_up() -> None:
    with duckdb.connect() as con:
        con.execute(MARTS_SQL)
        con.execute(
            """
            insert into marts.mart_daily_sales
            select d::date, c, case when d >= '2025-01-03' then 2 else 0 end,
                   case when d >= '2025-01-03' and c = 'A' then 10.5 when d >= '2025-01-03' then 1 else 0 end
            from range(date '2025-01-01', date '2025-01-11', interval 1 day) t(d), (values ('A'), ('B')) c(c)
            """
        )
        series = read_daily_series(con, date(2025, 1, 8))
    assert set(series["series"]) == {"revenue:total", "revenue:A", "revenue:B", "units:A", "units:B"}
    assert series.groupby("series")["ds"].agg(["min", "max", "count"]).to_dict("list") == {
        "min": [pd.Timestamp("2025-01-03")] * 5, "max": [pd.Timestamp("2025-01-08")] * 5, "count": [6] * 5,
    }
    total = series[series["series"] == "revenue:total"]["y"]
    assert total.tolist() == [11.5] * 6


def test_inventory_demand_shares_and_daily_sigma_match_numpy() -> None:
    as_of = date(2025, 3, 31)
    window = 90
    rng = np.random.default_rng(3)
    daily = rng.poisson(1.5, window)  # P1's units per day over the window
    with duckdb.connect() as con:
        con.execute(MARTS_SQL)
        con.execute(
            # product_stock is the product's stock across warehouses, repeated on each warehouse row
            "insert into marts.mart_inventory values "
            "('P1', 'Mug', 'Home', false, 'W1', 60), ('P1', 'Mug', 'Home', false, 'W2', 60), "
            "('P2', 'Pan', 'Home', false, 'W1', 5), ('X9', 'Unknown product', 'Unknown', true, 'W1', 2)"
        )
        days = [as_of - timedelta(days=i) for i in range(window)]
        lines = pd.DataFrame({"source_product_id": "P1", "category": "Home", "order_date": days,
                              "quantity": daily, "is_sale": True})
        lines = lines[lines["quantity"] > 0]
        extra = pd.DataFrame({
            "source_product_id": ["P2", "P2", "P1", "P1"],
            "category": ["Home"] * 4,
            # P2 sells 4 in the window; a P1 line before the window and a cancelled one do not count
            "order_date": [as_of, as_of - timedelta(days=5), as_of - timedelta(days=window), as_of],
            "quantity": [3, 1, 50, 50],
            "is_sale": [True, True, True, False],
        })
        con.register("_lines", pd.concat([lines, extra]))
        con.execute("insert into marts.fct_order_lines by name select * from _lines")
        inventory = read_inventory_demand(con, as_of, window_days=window).set_index("product_id")
    assert list(inventory.index) == ["P1", "P2", "X9"]
    assert inventory.loc["P1", "current_stock"] == 60
    assert inventory.loc["P1", "units_sold_window"] == daily.sum()
    assert inventory.loc["P1", "category_units_window"] == daily.sum() + 4
    assert inventory.loc["P1", "demand_std_daily"] == pytest.approx(np.std(daily, ddof=1))
    p2 = np.zeros(window)
    p2[0], p2[5] = 3, 1
    assert inventory.loc["P2", "demand_std_daily"] == pytest.approx(np.std(p2, ddof=1))
    assert inventory.loc["X9", "units_sold_window"] == 0 and inventory.loc["X9", "demand_std_daily"] == 0
