"""The forecasting assets on the committed sample, materialized with Dagster on a copy of the built warehouse.

Actuals are recomputed from the order lines with plain SQL, the accuracy table is checked against the issue's
thresholds (at least 3 folds per series and candidate model; on every series with a year of history the
published forecast's backtest MASE is at most the best baseline's; the 80 % interval's coverage is measured on
the folds), and a second materialization must give the same forecast table.
"""

from __future__ import annotations

import itertools
import shutil
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from dagster import AssetKey, ExecuteInProcessResult, materialize

from ml.forecasting import BASELINES, MODELS
from ml.forecasting.forecast import FALLBACK_REASON
from orchestration.defs.ml.forecasting import (
    ACCURACY_KEY,
    FORECAST_KEY,
    STOCKOUT_KEY,
    forecast_assets,
    forecast_checks,
    forecast_daily_sales_asset,
    stockout_covers_every_counted_product,
    stockout_forecast_asset,
)
from orchestration.defs.resources import WarehouseResource

pytestmark = pytest.mark.slow

SOURCES_YML = Path(__file__).resolve().parents[2] / "dbt_project/models/ml/_ml__forecast_sources.yml"
HORIZON_DAYS = 90  # the horizon
MIN_FOLDS = 3  # the minimum
YEAR_DAYS = 365  # "a series with a year of history"


@dataclass(frozen=True)
class Materialized:
    database: Path
    result: ExecuteInProcessResult
    seconds: float


def _materialize(database: Path, seeds_dir: Path, assets: list) -> ExecuteInProcessResult:
    return materialize(
        assets,
        resources={"warehouse": WarehouseResource(seeds_dir=str(seeds_dir), database=str(database))},
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def materialized(built_sample: Path, sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Materialized:
    database = tmp_path_factory.mktemp("forecasting") / "comptoir.duckdb"
    shutil.copyfile(built_sample, database)
    started = time.monotonic()
    result = _materialize(database, sample_dir, [*forecast_assets, *forecast_checks])
    seconds = time.monotonic() - started
    assert result.success
    return Materialized(database, result, seconds)


@pytest.fixture(scope="module")
def con(materialized: Materialized):
    with duckdb.connect(str(materialized.database), read_only=True) as connection:
        yield connection


def test_runtime_of_all_forecasting_assets_is_recorded(materialized: Materialized, record_property) -> None:
    per_asset = {
        event.asset_key.to_user_string(): event.materialization.metadata["runtime_seconds"].value
        for event in materialized.result.get_asset_materialization_events()
    }
    record_property("forecasting_seconds", round(materialized.seconds, 1))
    print(f"\nforecasting assets and checks: {materialized.seconds:.1f}s in all; per asset: {per_asset}")
    assert set(per_asset) == {"ml/forecast_daily_sales", "ml/forecast_accuracy", "ml/stockout_forecast"}


def test_tables_have_exactly_their_documented_columns(con) -> None:
    sources = yaml.safe_load(SOURCES_YML.read_text())["sources"]
    (ml,) = [s for s in sources if s["name"] == "ml"]
    for table in ml["tables"]:
        documented = [c["name"] for c in table["columns"]]
        built = [r[0] for r in con.execute(
            "select column_name from information_schema.columns where table_schema = 'ml' and table_name = ? "
            "order by ordinal_position", [table["name"]],
        ).fetchall()]
        assert built == documented, table["name"]
        assert all(c.get("description") for c in table["columns"])


def test_every_check_passes(materialized: Materialized) -> None:
    evaluations = {e.check_name: e for e in materialized.result.get_asset_check_evaluations()}
    assert set(evaluations) == {spec.name for check in forecast_checks for spec in check.check_specs}
    failed = {name: e.metadata for name, e in evaluations.items() if not e.passed}
    assert not failed


def test_the_summary_lines_are_on_the_materializations(materialized: Materialized) -> None:
    summaries = {
        event.asset_key: event.materialization.metadata["summary"].value
        for event in materialized.result.get_asset_materialization_events()
    }
    assert set(summaries) == {FORECAST_KEY, ACCURACY_KEY, STOCKOUT_KEY}
    assert summaries[ACCURACY_KEY].startswith("total: published ")
    assert "models: " in summaries[FORECAST_KEY]


def test_actuals_are_the_daily_sales_recomputed_from_the_order_lines(con) -> None:
    """Every history day of every series equals plain SQL over fct_order_lines (0 on days without sales)."""
    mismatches = con.execute(
        """
        with as_of as (select max(as_of_date) as d from marts.mart_kpis),
        sales as (
            select order_date, category, sum(revenue) as revenue, sum(quantity) as units
            from marts.fct_order_lines where status = 'completed' group by all
        ),
        expected as (
            select order_date as date_day, 'revenue:total' as series, sum(revenue) as value from sales group by all
            union all select order_date, 'revenue:' || category, revenue from sales
            union all select order_date, 'units:' || category, units from sales
        ),
        history as (
            select f.* from ml.forecast_daily_sales f where not f.is_forecast
        )
        select h.series, h.date_day, h.actual, e.value
        from history h
        left join expected e using (series, date_day)
        where abs(h.actual - coalesce(e.value, 0)) > 0.005
        union all
        -- a day with sales (up to the as-of date) that the table lacks
        select e.series, e.date_day, null, e.value
        from expected e cross join as_of
        where e.date_day <= as_of.d and e.value <> 0
          and not exists (select 1 from history h where h.series = e.series and h.date_day = e.date_day)
        """
    ).fetchall()
    assert mismatches == []
    first_sale, last_day, as_of = con.execute(
        """
        select
            (select min(order_date) from marts.fct_order_lines where status = 'completed'),
            (select max(date_day) from ml.forecast_daily_sales where not is_forecast),
            (select max(as_of_date) from marts.mart_kpis)
        """
    ).fetchone()
    assert last_day == as_of
    days = con.execute(
        "select distinct count(*) from ml.forecast_daily_sales where not is_forecast group by series"
    ).fetchall()
    assert days == [((as_of - first_sale).days + 1,)]


def test_every_series_has_90_forecast_days_after_the_as_of_date(con) -> None:
    as_of = con.execute("select max(as_of_date) from marts.mart_kpis").fetchone()[0]
    categories = {r[0] for r in con.execute("select distinct category from marts.mart_daily_sales").fetchall()}
    rows = con.execute(
        """
        select series, count(*), min(date_day), max(date_day), count(*) filter (where actual is not null),
               count(distinct model_version)
        from ml.forecast_daily_sales where is_forecast group by series
        """
    ).fetchall()
    expected = {"revenue:total"} | {f"revenue:{c}" for c in categories} | {f"units:{c}" for c in categories}
    assert {r[0] for r in rows} == expected
    for _, days, first, last, with_actual, versions in rows:
        assert (days, with_actual, versions) == (HORIZON_DAYS, 0, 1)
        assert first == as_of + timedelta(days=1) and last == as_of + timedelta(days=HORIZON_DAYS)


def test_accuracy_has_at_least_three_folds_for_every_series_and_model(con) -> None:
    folds = con.execute(
        """
        select series, model, count(distinct fold), count(*) filter (where mase is null)
        from ml.forecast_accuracy where scope = 'fold' group by all
        """
    ).df()
    series = {r[0] for r in con.execute("select distinct series from ml.forecast_daily_sales").fetchall()}
    assert set(zip(folds["series"], folds["model"], strict=True)) == {(s, m) for s in series for m in MODELS}
    assert (folds.iloc[:, 2] >= MIN_FOLDS).all()
    # Test windows lie within the last year before the as-of date and do not overlap.
    windows = con.execute(
        "select distinct fold, test_start, test_end from ml.forecast_accuracy where scope = 'fold' order by fold"
    ).fetchall()
    as_of = con.execute("select max(as_of_date) from marts.mart_kpis").fetchone()[0]
    assert windows[-1][2] == as_of and as_of - windows[0][1] < timedelta(days=366)
    assert all(earlier[2] < later[1] for earlier, later in itertools.pairwise(windows))


def test_the_published_forecast_is_at_most_the_best_baseline_on_every_series_with_a_year_of_history(
    con, materialized: Materialized
) -> None:
    overall = con.execute(
        "select series, model, mase, interval_coverage, is_chosen from ml.forecast_accuracy where scope = 'overall'"
    ).df()
    published = con.execute(
        """
        select series, any_value(model) as model, count(distinct model) as models,
               count(*) filter (where not is_forecast) as history_days,
               any_value(backtest_mase) as backtest_mase, any_value(best_baseline_mase) as best_baseline_mase,
               any_value(interval_coverage) as interval_coverage, any_value(chosen_reason) as chosen_reason
        from ml.forecast_daily_sales group by series order by series
        """
    ).df().set_index("series")
    mase = overall.pivot(index="series", columns="model", values="mase")
    best_baseline = mase[list(BASELINES)].min(axis=1)
    chosen = overall[overall["is_chosen"]].set_index("series")["model"]
    report = pd.DataFrame({
        "model": published["model"], "mase": published["backtest_mase"], "best_baseline": best_baseline,
        "coverage": published["interval_coverage"],
    })
    print("\npublished model per series (backtest MASE, best baseline's, 80 % coverage):\n" + report.to_string()
          + "\n\noverall MASE of every candidate:\n" + mase.round(3).to_string())
    assert (published["models"] == 1).all()
    assert published["model"].to_dict() == chosen.to_dict()
    assert published["backtest_mase"].to_numpy() == pytest.approx(
        [mase.loc[key, model] for key, model in published["model"].items()])
    assert published["best_baseline_mase"].to_numpy() == pytest.approx(best_baseline[published.index].to_numpy())
    a_year = published[published["history_days"] >= YEAR_DAYS]
    assert len(a_year) == len(published), "the sample has two years of history on every series"
    for key, row in a_year.iterrows():
        assert row["backtest_mase"] <= best_baseline[key], key
        assert row["backtest_mase"] == pytest.approx(mase.loc[key].min()), key
        assert row["chosen_reason"].startswith(f"lowest backtest MASE of {len(MODELS)} candidates over 4 folds")
    (event,) = [e for e in materialized.result.get_asset_materialization_events() if e.asset_key == ACCURACY_KEY]
    counted = event.materialization.metadata["chosen_models"].value
    assert counted == published["model"].value_counts().to_dict()


def test_interval_coverage_is_measured_on_the_backtest_folds(con) -> None:
    folds = con.execute(
        """
        select series, model, fold, test_days, interval_coverage
        from ml.forecast_accuracy where scope = 'fold' and is_chosen
        """
    ).df()
    published = con.execute(
        "select series, any_value(interval_coverage) as coverage from ml.forecast_daily_sales group by series"
    ).df().set_index("series")["coverage"]
    # Each fold's coverage is a count of its days over the days; the published figure is the folds' mean.
    assert ((folds["interval_coverage"] * folds["test_days"]).round(9) % 1 == 0).all()
    assert published.to_numpy() == pytest.approx(folds.groupby("series")["interval_coverage"].mean()[
        published.index].to_numpy())
    print(f"\n80 % interval coverage of the published models: mean {published.mean():.3f}, "
          f"min {published.min():.3f} ({published.idxmin()}), max {published.max():.3f}")
    assert published.between(0.6, 0.95).all()
    assert 0.75 <= published.mean() <= 0.85
    # And the published interval is the point forecast plus the overall offsets times the series' scale.
    bad = con.execute(
        """
        with history as (
            select series, date_day, actual, lag(actual, 7) over (partition by series order by date_day) as week_ago
            from ml.forecast_daily_sales where not is_forecast
        ),
        scale as (select series, avg(abs(actual - week_ago)) as scale from history group by series),
        offsets as (
            select series, interval_upper_offset as upper_offset from ml.forecast_accuracy
            where scope = 'overall' and is_chosen
        )
        select count(*) from ml.forecast_daily_sales f join scale using (series) join offsets using (series)
        where f.is_forecast and abs(f.yhat_upper - (f.yhat + offsets.upper_offset * scale.scale)) > 1e-6
        """
    ).fetchone()
    assert bad == (0,)


def test_stockout_rows_follow_the_inventory_and_the_forecast(con) -> None:
    inventory = con.execute(
        "select distinct product_id, product_stock from marts.mart_inventory order by product_id"
    ).df()
    table = con.execute("select * from ml.stockout_forecast order by product_id").df()
    assert table["product_id"].tolist() == inventory["product_id"].tolist()
    assert table["current_stock"].tolist() == inventory["product_stock"].tolist()
    # The products' forecast demand adds up to their categories' unit forecasts times the counted share.
    demand = con.execute(
        """
        select s.product_id, s.category_share * avg(f.yhat) as expected
        from ml.stockout_forecast s
        left join ml.forecast_daily_sales f on f.is_forecast and f.series = 'units:' || s.category
        group by s.product_id, s.category_share
        """
    ).df().set_index("product_id")["expected"].fillna(0.0)
    got = table.set_index("product_id")["forecast_daily_demand"]
    assert got.to_numpy() == pytest.approx(demand.loc[got.index].to_numpy())
    versions = set(table["model_version"]) | {
        con.execute("select any_value(model_version) from ml.forecast_daily_sales").fetchone()[0]
    }
    assert len(versions) == 1
    assert (table["reorder_quantity"] >= 0).all() and (table["days_until_stockout"].dropna() >= 0).all()


def test_a_second_fit_on_the_same_data_gives_the_same_forecast(
    materialized: Materialized, sample_dir: Path, tmp_path: Path
) -> None:
    def read(database: Path) -> pd.DataFrame:
        with duckdb.connect(str(database), read_only=True) as connection:
            return connection.execute("select * from ml.forecast_daily_sales order by series, date_day").df()

    again = tmp_path / "again.duckdb"
    shutil.copyfile(materialized.database, again)
    with duckdb.connect(str(again)) as connection:
        connection.execute("drop table ml.forecast_daily_sales")
    assert _materialize(again, sample_dir, [forecast_daily_sales_asset]).success
    pd.testing.assert_frame_equal(read(again), read(materialized.database))


def test_without_a_backtest_every_series_falls_back_to_the_seasonal_naive(
    materialized: Materialized, sample_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "no-backtest.duckdb"
    shutil.copyfile(materialized.database, database)
    with duckdb.connect(str(database)) as connection:
        connection.execute("drop table ml.forecast_accuracy")
    assert _materialize(database, sample_dir, [forecast_daily_sales_asset]).success
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select distinct model, chosen_reason, interval_coverage from ml.forecast_daily_sales"
        ).fetchall()
    assert rows == [("seasonal_naive", FALLBACK_REASON, None)]


def test_without_inventory_the_stockout_table_is_empty_and_the_check_passes(
    materialized: Materialized, sample_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "no-inventory.duckdb"
    shutil.copyfile(materialized.database, database)
    with duckdb.connect(str(database)) as connection:
        # No inventory source: mart_inventory and so its feature model, the stock-out asset's input, are empty.
        connection.execute("delete from marts.mart_inventory")
        connection.execute("delete from features.feat_stockout__products")
    result = _materialize(database, sample_dir, [stockout_forecast_asset, stockout_covers_every_counted_product])
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("select count(*) from ml.stockout_forecast").fetchone() == (0,)
        columns = [r[0] for r in connection.execute(
            "select column_name from information_schema.columns where table_name = 'stockout_forecast' "
            "and table_schema = 'ml' order by ordinal_position"
        ).fetchall()]
    (event,) = result.get_asset_materialization_events()
    assert event.asset_key == AssetKey(["ml", "stockout_forecast"])
    assert "no inventory" in event.materialization.metadata["summary"].value
    documented = yaml.safe_load(SOURCES_YML.read_text())["sources"][0]["tables"]
    (stockout,) = [t for t in documented if t["name"] == "stockout_forecast"]
    assert columns == [c["name"] for c in stockout["columns"]]
