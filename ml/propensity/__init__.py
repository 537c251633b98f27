"""Purchase propensity: point-in-time customer features and next-window purchase labels."""

# The model's warehouse tables, here rather than in tables.py so that naming them imports no scikit-learn.
MODEL_RUNS_TABLE = "model_runs"
CUSTOMER_SCORES_TABLE = "customer_scores"
