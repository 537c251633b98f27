"""Purchase propensity: a model trained, evaluated and scored on the dbt feature models feat_propensity__*."""

# The model's warehouse tables, here rather than in tables.py so that naming them imports no scikit-learn.
MODEL_RUNS_TABLE = "model_runs"
CUSTOMER_SCORES_TABLE = "customer_scores"
