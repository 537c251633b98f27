"""Dagster definitions, split by domain (defs/<domain>/assets.py, schedules.py, ...)."""
