"""Probabilistic customer lifetime value: BG/NBD + Gamma-Gamma (pymc-marketing) on the CLV summary
(the dbt feature model features.feat_clv__customer_summary).

Importing this package does not import pymc or pytensor: ``fit_clv`` sets their cache folders first
(``configure_caches``) and imports them inside.
"""

from ml.clv.caches import configure_caches, quiet_libraries
from ml.clv.model import (
    CLV_MONTHS,
    HORIZONS_DAYS,
    MONTHLY_DISCOUNT_RATE,
    ClvResult,
    fit_clv,
    read_clv_summary,
)

__all__ = [
    "CLV_MONTHS",
    "HORIZONS_DAYS",
    "MONTHLY_DISCOUNT_RATE",
    "ClvResult",
    "configure_caches",
    "fit_clv",
    "quiet_libraries",
    "read_clv_summary",
]
