"""Pure-Python ML and forecasting code for Comptoir (no Dagster imports: orchestration wraps it)."""
