"""dbt models as Dagster assets, dbt tests as asset checks, and the jobs' triggers.

`translator.py` maps dbt nodes to asset keys and groups, `assets.py` runs `dbt build`, `resources.py` holds the
dbt resource and the run folders, `schedules.py` and `sensors.py` start the warehouse job. The Dagster-free dbt
helpers (manifest, command lines, run results) are in orchestration/dbt.
"""
