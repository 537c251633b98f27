"""Order anomalies: an unsupervised detector over completed sale orders (detector.py explains the method)."""

from ml.anomalies.detector import (
    DEFAULT_CONTAMINATION,
    OUTPUT_COLUMNS,
    AnomalySummary,
    detect_order_anomalies,
    deviations,
    robust_z,
    score_orders,
    write_order_anomalies,
)
from ml.anomalies.features import build_order_features

__all__ = [
    "DEFAULT_CONTAMINATION",
    "OUTPUT_COLUMNS",
    "AnomalySummary",
    "build_order_features",
    "detect_order_anomalies",
    "deviations",
    "robust_z",
    "score_orders",
    "write_order_anomalies",
]
