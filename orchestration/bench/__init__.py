"""`comptoir bench`: Comptoir's builds measured beside their own SQL replayed in DuckDB and a pandas baseline.

datasets.py makes (and caches) the landing folders and their "one new day" split; replay.py replays a build's
compiled SQL straight in DuckDB; pandas_marts.py is the pandas baseline; run.py drives the measurements and
report.py writes docs/benchmarks.md and the JSON beside it.
"""
