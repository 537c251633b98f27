"""Daily sales series and buyer markets, read from the dbt feature models: shop revenue, revenue and units per
category (``features.feat_forecast__daily_series``), and the buyer countries by revenue
(``features.feat_forecast__markets``).

The series are dense (mart_daily_sales is a calendar day x category grid with zeros on days without sales).
Each runs from the shop's first day with a completed sale (days of the calendar before it are not "no sales",
the shop did not exist yet) to the as-of date (later days are the future). The SQL lives in dbt
(dbt_project/models/features/, ``_features__forecasting.yml``); the series names below are the ones it writes.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

from ml.warehouse import features

logger = logging.getLogger(__name__)

TOTAL_CATEGORY = "All categories"
TOTAL_SERIES = "revenue:total"
SERIES_COLUMNS: tuple[str, ...] = ("series", "measure", "category", "ds", "y")
SERIES_MODEL = "feat_forecast__daily_series"
MARKETS_MODEL = "feat_forecast__markets"


def series_id(measure: str, category: str) -> str:
    """``revenue:total`` for the shop, ``<measure>:<category>`` per category."""
    return TOTAL_SERIES if category == TOTAL_CATEGORY and measure == "revenue" else f"{measure}:{category}"


def read_daily_series(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Long frame (series, measure, category, ds, y), one row per series and day up to the as-of date, ordered.

    Series: shop revenue (``revenue:total``), revenue per category and units per category, every category
    of ``mart_daily_sales`` (the 'Unknown' category of products missing from the catalogue included).
    """
    frame = (
        features(con, SERIES_MODEL)
        .order(f"measure, category <> '{TOTAL_CATEGORY}', category, date_day")
        .project("series, measure, category, date_day as ds, y")
        .df()
    )
    frame["ds"] = pd.to_datetime(frame["ds"])
    logger.info("read %d daily series", frame["series"].nunique())
    return frame[list(SERIES_COLUMNS)]


def read_main_markets(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Buyer countries with a country code, by completed-sale revenue up to the as-of date, largest first.

    Columns: country_code, country_name, revenue, revenue_share (of the revenue with a known country).
    """
    return (
        features(con, MARKETS_MODEL)
        .order("revenue desc, country_code")
        .project("country_code, country_name, revenue, revenue_share")
        .df()
    )
