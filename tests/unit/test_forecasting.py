"""Forecasting on synthetic series and hand-made warehouses: metrics, candidates, backtests and the choice of
model, calibrated intervals, the published table, stock-out, quiet logs."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.seasonal import seasonal_decompose

from ml.forecasting import (
    ACCURACY_COLUMNS,
    BASELINES,
    COMBINATION,
    ETS,
    FORECAST_CASTS,
    FORECAST_COLUMNS,
    MODELS,
    MOVING_AVERAGE,
    PROPHET,
    SEASONAL_NAIVE,
    STOCKOUT_CASTS,
    STOCKOUT_COLUMNS,
    THETA,
    ForecastSettings,
    backtest,
    choose_main_markets,
    days_until_stockout,
    forecast_daily_sales,
    holiday_table,
    mae,
    mape,
    mase,
    model_choice,
    moving_average_forecast,
    predict_candidates,
    read_daily_series,
    read_inventory_demand,
    seasonal_naive_forecast,
    seasonal_naive_scale,
    smape,
    stockout_forecast,
)
from ml.forecasting.backtest import fold_origins
from ml.forecasting.classical import _theta_in_sample, theta, yearly_profile
from ml.forecasting.forecast import FALLBACK_REASON
from ml.forecasting.holidays import black_friday
from ml.forecasting.intervals import calibrate, scaled_offsets
from ml.forecasting.selection import choose_models
from ml.forecasting.series import SERIES_MODEL
from ml.forecasting.stockout import INVENTORY_COLUMNS, INVENTORY_MODEL
from ml.warehouse import read_as_of_date, replace_table, table_exists
from orchestration.settings import REPO_ROOT
from tests.dbt_features import build_features

AS_OF = date(2025, 6, 30)
# No country holidays: the unit tests are about the method, not the markets.
FAST = ForecastSettings(main_markets=())
YEAR = 365


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
# Candidates, backtests and the choice of model


def _panel(seed: int = 11) -> pd.DataFrame:
    """Several daily series ending at AS_OF with a known pattern: trend x weekly x yearly shape, plus noise.

    Two years of a strongly weekly revenue series, a noisier one, Poisson units with the same shape, a series
    with 400 days, and one with 200 days (under a year: the selection runs, the baseline guarantee is not asked).
    """
    rng = np.random.default_rng(seed)
    frames = []
    specs = [
        # series, days, level, trend per day, weekly amplitude, yearly amplitude, noise (share of the level)
        ("revenue:total", 730, 200.0, 0.10, 1.0, 0.25, 0.06),
        ("revenue:A", 730, 60.0, 0.02, 0.6, 0.35, 0.15),
        ("units:A", 730, 6.0, 0.002, 0.8, 0.30, None),  # Poisson counts
        ("units:B", 400, 40.0, 0.01, 1.0, 0.20, 0.10),
        ("units:C", 200, 30.0, 0.00, 1.0, 0.00, 0.10),
    ]
    weekday = np.array([1.25, 1.05, 0.95, 0.95, 0.9, 0.7, 1.2])
    for key, days, level, trend, weekly, yearly, noise in specs:
        ds = pd.date_range(end=pd.Timestamp(AS_OF), periods=days, freq="D")
        season = np.sin(2 * np.pi * ds.day_of_year / 365.25)
        shape = (1 + weekly * (weekday[ds.day_of_week] - 1)) * (1 + yearly * season)
        mean = (level + trend * np.arange(days)) * shape
        y = rng.poisson(mean).astype(float) if noise is None else mean + rng.normal(0.0, noise * level, days)
        measure, category = key.split(":")
        frames.append(pd.DataFrame({"series": key, "measure": measure, "category": category, "ds": ds,
                                    "y": np.clip(y, 0.0, None)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def panel_accuracy() -> tuple[pd.DataFrame, pd.DataFrame]:
    series = _panel()
    return series, backtest(series, AS_OF, FAST, "test")


def test_the_chosen_model_is_at_most_the_best_baseline_on_every_series_with_a_year_of_history(
    panel_accuracy: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    series, table = panel_accuracy
    assert list(table.columns) == list(ACCURACY_COLUMNS)
    overall = table[table["scope"] == "overall"]
    assert set(zip(overall["series"], overall["model"], strict=True)) == {
        (s, m) for s in series["series"].unique() for m in MODELS
    }
    assert overall.groupby("series")["is_chosen"].sum().eq(1).all(), "one chosen model per series"
    mase_table = overall.pivot(index="series", columns="model", values="mase")
    chosen = overall[overall["is_chosen"]].set_index("series")["model"]
    history_days = series.groupby("series").size()
    for key, model in chosen.items():
        best_baseline = mase_table.loc[key, list(BASELINES)].min()
        assert mase_table.loc[key, model] == mase_table.loc[key].min()
        if history_days[key] >= YEAR:
            assert mase_table.loc[key, model] <= best_baseline, key
    # A clear weekly and yearly pattern with little noise: a model, not a baseline, wins, and beats them clearly.
    assert chosen["revenue:total"] not in BASELINES
    assert mase_table.loc["revenue:total", chosen["revenue:total"]] < 0.9 * mase_table.loc[
        "revenue:total", list(BASELINES)].min()
    # Every row of the chosen model is marked, and no other.
    marked = table[table["is_chosen"]].groupby("series")["model"].unique()
    assert {key: list(models) for key, models in marked.items()} == {key: [m] for key, m in chosen.items()}


def test_interval_coverage_is_measured_on_held_out_folds_and_near_80_percent(
    panel_accuracy: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, table = panel_accuracy
    folds = table[table["scope"] == "fold"]
    # Each fold's coverage is a share of its 30 test days, measured with offsets from the other folds.
    assert ((folds["interval_coverage"] * folds["test_days"]).round(9) % 1 == 0).all()
    assert (folds["interval_lower_offset"] <= 0).all() and (folds["interval_upper_offset"] >= 0).all()
    overall = table[table["scope"] == "overall"].set_index(["series", "model"])
    assert overall["interval_coverage"].to_numpy() == pytest.approx(
        folds.groupby(["series", "model"])["interval_coverage"].mean().reindex(overall.index).to_numpy()
    )
    chosen = overall[overall["is_chosen"]]["interval_coverage"]
    assert chosen.notna().all()
    assert chosen.between(0.65, 0.95).all(), chosen.to_dict()
    assert 0.72 <= overall["interval_coverage"].mean() <= 0.88


def test_backtest_scores_every_candidate_on_every_fold_and_prophet_beats_seasonal_naive() -> None:
    series = _synthetic()
    table = backtest(series, AS_OF, FAST, "test", n_folds=3, step=60)
    folds = table[table["scope"] == "fold"]
    assert folds.groupby("model")["fold"].nunique().to_dict() == dict.fromkeys(MODELS, 3)
    overall = table[table["scope"] == "overall"].set_index("model")["mase"]
    assert overall[PROPHET] < overall[SEASONAL_NAIVE]
    # The overall row is the mean of the folds.
    assert overall[PROPHET] == pytest.approx(folds[folds["model"] == PROPHET]["mase"].mean())
    naive = folds[folds["model"] == SEASONAL_NAIVE].set_index("fold")["mase"]
    for model in (PROPHET, ETS, THETA):
        rows = folds[folds["model"] == model].set_index("fold")
        assert (rows["beats_seasonal_naive"] == (rows["mase"] < naive.loc[rows.index])).all()
    assert table.loc[table["model"] == SEASONAL_NAIVE, "beats_seasonal_naive"].isna().all()
    assert set(table.loc[table["is_baseline"], "model"]) == set(BASELINES)


def test_the_combination_is_the_mean_of_prophet_ets_and_theta() -> None:
    history = _synthetic(days=180)[["ds", "y"]]
    holidays = holiday_table((), 2024, 2025)
    predictions = predict_candidates(history, 14, MODELS, FAST, holidays, in_sample=True)
    members = np.mean([predictions[m].forecast for m in (PROPHET, ETS, THETA)], axis=0)
    assert predictions[COMBINATION].forecast == pytest.approx(members)
    assert predictions[COMBINATION].fitted == pytest.approx(
        np.mean([predictions[m].fitted for m in (PROPHET, ETS, THETA)], axis=0))
    for model, prediction in predictions.items():
        assert prediction.forecast.shape == (14,) and prediction.fitted.shape == (180,), model
        assert np.isfinite(prediction.forecast).all() and (prediction.forecast >= 0).all(), model
    assert predictions[SEASONAL_NAIVE].forecast.tolist() == np.resize(history["y"].to_numpy()[-7:], 14).tolist()
    assert predictions[MOVING_AVERAGE].forecast == pytest.approx(np.full(14, history["y"].to_numpy()[-28:].mean()))


def test_theta_in_sample_values_are_statsmodels_one_step_forecasts() -> None:
    y = _synthetic(days=200)["y"].to_numpy()
    fit = ThetaModel(y, period=7, use_test=False, method="additive").fit()
    fitted = _theta_in_sample(y, float(fit.params["alpha"]), float(fit.params["b0"]))
    # The last in-sample value carries the SES level after n - 1 days; one more SES step and the drift after n
    # days give statsmodels' own forecast of day n + 1.
    alpha, b0 = float(fit.params["alpha"]), float(fit.params["b0"])

    def drift(n: int) -> float:
        return 0.5 * b0 * (1 / alpha - (1 - alpha) ** n / alpha)

    season = seasonal_decompose(y, model="additive", period=7).seasonal
    level_before = fitted[-1] - season[-1] - drift(len(y) - 1)
    level = alpha * (y[-1] - season[-1]) + (1 - alpha) * level_before
    assert level + drift(len(y)) + season[len(y) % 7] == pytest.approx(float(np.asarray(fit.forecast(1))[0]))
    # A constant series forecasts that constant (statsmodels' trend regression alone would add a slope).
    assert theta(np.full(60, 2.0), 3, in_sample=True).forecast.tolist() == [2.0, 2.0, 2.0]


def test_yearly_profile_is_last_years_shape_around_the_origin() -> None:
    days = np.arange(800)
    y = 100 + 50 * (days % 364 >= 300)  # a yearly high season from day 300 of each 364-day year
    profile = yearly_profile(y.astype(float), 90)
    origin = len(y) - 1 - 364  # day 435: in the low season; its 28-day centred mean is 100
    assert profile[0] == pytest.approx(1.0)
    high = origin + np.arange(1, 91)
    fully_high = (high % 364 >= 314) & (high % 364 < 350)  # 28-day windows entirely in the high season
    assert profile[fully_high] == pytest.approx(1.5)
    assert yearly_profile(np.ones(300), 10).tolist() == [1.0] * 10  # under a year and a window: no profile
    assert yearly_profile(np.zeros(800), 5).tolist() == [1.0] * 5  # no level to compare with


def test_choice_takes_the_lowest_mase_breaks_ties_by_simplicity_and_needs_every_fold() -> None:
    overall = pd.DataFrame({
        "series": ["a"] * 4 + ["b"] * 3,
        "model": [PROPHET, ETS, MOVING_AVERAGE, SEASONAL_NAIVE, PROPHET, THETA, MOVING_AVERAGE],
        "mase": [0.80, 0.80, 0.80, 0.95, 0.50, 0.70, 0.90],
        "folds_scored": [4, 4, 4, 4, 3, 4, 4],
    })
    chosen = choose_models(overall)
    assert chosen["a"] == MOVING_AVERAGE  # a tie: the simpler model
    assert chosen["b"] == THETA  # Prophet's 0.50 rests on one fold fewer


def test_interval_offsets_are_conformal_order_statistics_and_coverage_uses_the_other_folds() -> None:
    # Fold 1's scaled errors are 1..9 (9 errors: the floor(10 x 0.1) = 1st and ceil(10 x 0.9) = 9th smallest).
    errors = pd.DataFrame({"series": "s", "model": "m", "scaled_error": np.arange(1.0, 10.0) - 5})
    offsets = scaled_offsets(errors, ["series", "model"]).iloc[0]
    assert (offsets["interval_lower_offset"], offsets["interval_upper_offset"]) == (-4.0, 4.0)
    # Two folds with scale 2: fold 2's actuals are judged with fold 1's offsets and the other way round.
    fold_1 = pd.DataFrame({"fold": 1, "actual": 10 + 2 * (np.arange(1.0, 10.0) - 5), "forecast": 10.0})
    fold_2 = pd.DataFrame({"fold": 2, "actual": [10.0, 17.0, 3.0, 10.5, 9.0, 11.0, 10.0, 10.0, 30.0],
                           "forecast": 10.0})
    per_fold, overall = calibrate(pd.concat([fold_1, fold_2]).assign(series="s", model="m", scale=2.0))
    per_fold = per_fold.set_index("fold")
    # Fold 2 with fold 1's offsets (-4, 4) x 2: [2, 18] holds 8 of its 9 actuals (not 30).
    assert per_fold.loc[2, "interval_coverage"] == pytest.approx(8 / 9)
    assert (per_fold.loc[2, "interval_lower_offset"], per_fold.loc[2, "interval_upper_offset"]) == (-4.0, 4.0)
    # Fold 1 with fold 2's offsets: its scaled errors run -3.5 .. 10, so [10 - 7, 10 + 20] = [3, 30], which holds
    # fold 1's actuals 4 .. 18 but not 2.
    assert (per_fold.loc[1, "interval_lower_offset"], per_fold.loc[1, "interval_upper_offset"]) == (-3.5, 10.0)
    assert per_fold.loc[1, "interval_coverage"] == pytest.approx(8 / 9)
    assert overall["interval_coverage"].iloc[0] == pytest.approx(8 / 9)
    # The published offsets come from both folds' 18 errors: the floor(19 x 0.1) = 1st and ceil(19 x 0.9) = 18th.
    assert (overall["interval_lower_offset"].iloc[0], overall["interval_upper_offset"].iloc[0]) == (-4.0, 10.0)


# --------------------------------------------------------------------------------------------
# The published table


def _published(series: pd.DataFrame, settings: ForecastSettings = FAST) -> tuple[pd.DataFrame, str]:
    """Backtest, choose, forecast: what the two assets do in turn."""
    choice = model_choice(backtest(series, AS_OF, settings, "test"))
    return forecast_daily_sales(series, AS_OF, settings, choice)


@pytest.mark.parametrize("model", MODELS)
def test_forecast_table_has_history_and_horizon_with_non_negative_ordered_intervals(model: str) -> None:
    # A low series with big swings: the models' raw values and the intervals' lower ends dip below 0.
    series = _synthetic(days=200, level=4.0, noise=3.0)
    table, version = _published(series, ForecastSettings(main_markets=(), models=(model,)))
    assert list(table.columns) == list(FORECAST_COLUMNS)
    assert version.startswith(f"forecast-{AS_OF.isoformat()}-")
    history, future = table[~table["is_forecast"]], table[table["is_forecast"]]
    assert len(history) == 200 and len(future) == FAST.horizon_days
    assert history["actual"].to_numpy() == pytest.approx(series["y"].to_numpy())
    assert future["actual"].isna().all()
    assert future["date_day"].min() == pd.Timestamp(AS_OF + timedelta(days=1))
    assert (table[["yhat", "yhat_lower", "yhat_upper"]] >= 0).all().all()
    assert ((table["yhat_lower"] <= table["yhat"]) & (table["yhat"] <= table["yhat_upper"])).all()
    assert (table["yhat_lower"] == 0).any(), "the synthetic series should need clipping"
    assert (table["model"] == model).all()
    assert table["interval_coverage"].notna().all() and table["chosen_reason"].str.startswith("lowest").all()


def test_the_published_model_is_the_chosen_one_and_says_why(
    panel_accuracy: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    series, accuracy = panel_accuracy
    choice = model_choice(accuracy)
    table, _ = forecast_daily_sales(series, AS_OF, FAST, choice)
    published = table.groupby("series")[["model", "backtest_mase", "best_baseline_mase", "interval_coverage",
                                          "chosen_reason"]].first()
    overall = accuracy[accuracy["scope"] == "overall"]
    chosen = overall[overall["is_chosen"]].set_index("series")
    assert published["model"].to_dict() == chosen["model"].to_dict()
    assert published["backtest_mase"].to_numpy() == pytest.approx(chosen.loc[published.index, "mase"].to_numpy())
    best_baseline = overall[overall["is_baseline"]].groupby("series")["mase"].min()
    assert published["best_baseline_mase"].to_numpy() == pytest.approx(best_baseline[published.index].to_numpy())
    reason = published.loc["revenue:total", "chosen_reason"]
    assert reason.startswith("lowest backtest MASE of 6 candidates over 4 folds") and "best baseline" in reason
    # The interval is the published value plus the overall offsets times the series' scale.
    total = table[(table["series"] == "revenue:total") & table["is_forecast"]]
    y = series.loc[series["series"] == "revenue:total", "y"].to_numpy()
    upper = total["yhat"] + chosen.loc["revenue:total", "interval_upper_offset"] * seasonal_naive_scale(y)
    assert total["yhat_upper"].to_numpy() == pytest.approx(upper.to_numpy())


def test_a_series_too_short_for_a_backtest_falls_back_to_the_seasonal_naive() -> None:
    series = _synthetic(days=40)
    assert backtest(series, AS_OF, FAST, "test").empty
    table, _ = _published(series)
    future = table[table["is_forecast"]]
    assert (table["model"] == SEASONAL_NAIVE).all() and (table["chosen_reason"] == FALLBACK_REASON).all()
    assert table[["backtest_mase", "best_baseline_mase", "interval_coverage"]].isna().all().all()
    assert future["yhat"].to_numpy() == pytest.approx(np.resize(series["y"].to_numpy()[-7:], 90))
    assert (future["yhat_upper"] > future["yhat"]).all() and (future["yhat_lower"] < future["yhat"]).all()


def test_the_same_data_give_the_same_table_and_version_and_other_data_another_version() -> None:
    series = _synthetic(days=150)
    first, version = _published(series)
    again, version_again = _published(series)
    pd.testing.assert_frame_equal(first, again)
    assert version == version_again
    changed = series.assign(y=series["y"].where(series.index != 10, series["y"] + 1))
    assert _published(changed)[1] != version
    # Nothing draws from numpy's global generator.
    np.random.seed(1)
    expected = np.random.random()
    np.random.seed(1)
    _published(series)
    assert np.random.random() == expected


def test_forecast_table_writes_with_its_types(tmp_path: Path) -> None:
    table, _ = _published(_synthetic(days=120))
    with duckdb.connect() as con:
        replace_table(con, "forecast_daily_sales", table, casts=FORECAST_CASTS)
        types = dict(con.execute("select column_name, data_type from information_schema.columns "
                                 "where table_name = 'forecast_daily_sales'").fetchall())
        nulls = con.execute("select count(*) from ml.forecast_daily_sales where actual is null").fetchone()
    assert types["date_day"] == "DATE" and types["is_forecast"] == "BOOLEAN" and types["actual"] == "DOUBLE"
    assert types["model"] == "VARCHAR" and types["backtest_mase"] == "DOUBLE" and types["chosen_reason"] == "VARCHAR"
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


def test_statsmodels_candidates_fit_degenerate_series_without_warnings() -> None:
    ds = pd.date_range(end=pd.Timestamp(AS_OF), periods=60, freq="D")
    for y in (np.zeros(60), np.full(60, 3.0), np.r_[np.zeros(50), 1.0, np.zeros(9)]):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predictions = predict_candidates(pd.DataFrame({"ds": ds, "y": y}), 7, (ETS, THETA), FAST, in_sample=True)
        assert not caught, [str(w.message) for w in caught]
        assert all(np.isfinite(p.forecast).all() and (p.forecast >= 0).all() for p in predictions.values())


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
# Reading from a hand-made warehouse, through the dbt feature models (tests/dbt_features.py)

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


def test_the_as_of_date_is_read_after_a_table_lookup_on_the_same_connection() -> None:
    """The stock-out asset looks its forecast table up, then reads the as-of date with the relation API."""
    with duckdb.connect() as con:
        build_features(con, as_of=AS_OF)
        assert not table_exists(con, "forecast_daily_sales")
        assert read_as_of_date(con) == AS_OF


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
        build_features(con, SERIES_MODEL, as_of=date(2025, 1, 8))
        series = read_daily_series(con)
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
        build_features(con, INVENTORY_MODEL, as_of=as_of)  # the window is the dbt var stockout_demand_window_days
        inventory = read_inventory_demand(con).set_index("product_id")
    assert list(inventory.index) == ["P1", "P2", "X9"]
    assert inventory.loc["P1", "current_stock"] == 60
    assert inventory.loc["P1", "units_sold_window"] == daily.sum()
    assert inventory.loc["P1", "category_units_window"] == daily.sum() + 4
    assert inventory.loc["P1", "demand_std_daily"] == pytest.approx(np.std(daily, ddof=1))
    p2 = np.zeros(window)
    p2[0], p2[5] = 3, 1
    assert inventory.loc["P2", "demand_std_daily"] == pytest.approx(np.std(p2, ddof=1))
    assert inventory.loc["X9", "units_sold_window"] == 0 and inventory.loc["X9", "demand_std_daily"] == 0
