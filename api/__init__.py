"""Comptoir's HTTP API: the published warehouse and the saved models, read-only, over HTTP (FastAPI on uvicorn).

No Dagster here: the API reads what builds publish (``$COMPTOIR_HOME/published/comptoir.duckdb`` and its
``published.json`` fact) and the propensity models saved under ``$COMPTOIR_HOME/models``. ``create_app`` (app.py)
builds the application; ``comptoir api`` serves it; ``comptoir api keys`` manages its keys (keys.py).
"""
