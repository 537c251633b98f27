"""dbt models as Dagster assets, dbt tests as asset checks, and the jobs' triggers.

`project.py` prepares the manifest, `translator.py` maps dbt nodes to asset keys and groups,
`assets.py` runs `dbt build`, `args.py`/`results.py` are pure helpers, `schedules.py` and
`sensors.py` start the warehouse job.
"""
