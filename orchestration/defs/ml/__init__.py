"""The ML domain: every asset and check that writes schema `ml`, gathered for the definitions."""

from orchestration.defs.ml.assets import ml_asset_checks, ml_assets
from orchestration.defs.ml.clv import clv_assets, clv_checks
from orchestration.defs.ml.forecasting import forecast_assets, forecast_checks

ALL_ML_ASSETS = [*ml_assets, *clv_assets, *forecast_assets]
ALL_ML_CHECKS = [*ml_asset_checks, *clv_checks, *forecast_checks]
