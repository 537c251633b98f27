"""What the forecasting assets share: the as-of date, the series, the settings and the model version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from ml.forecasting.holidays import choose_main_markets
from ml.forecasting.model import ForecastSettings, model_version
from ml.forecasting.series import read_daily_series, read_main_markets
from ml.warehouse import read_as_of_date


@dataclass(frozen=True)
class ForecastInputs:
    as_of: date
    series: pd.DataFrame  # long frame of series.read_daily_series
    markets: pd.DataFrame  # series.read_main_markets: every buyer country by revenue
    settings: ForecastSettings
    version: str

    @property
    def series_count(self) -> int:
        return int(self.series["series"].nunique())


def load_forecast_inputs(con: duckdb.DuckDBPyConnection, settings: ForecastSettings | None = None) -> ForecastInputs:
    """Read the series and pick the holiday markets from the warehouse; the version follows from both."""
    as_of = read_as_of_date(con)
    series = read_daily_series(con)
    markets = read_main_markets(con)
    base = settings or ForecastSettings()
    chosen = ForecastSettings(**{**base.as_dict(), "main_markets": tuple(choose_main_markets(markets))})
    return ForecastInputs(as_of, series, markets, chosen, model_version(series, chosen, as_of))
