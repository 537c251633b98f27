"""dbt without Dagster: the project and its manifest (project.py), command lines (args.py), run results
(results.py), what the last builds were built from (project_state.py) and the launcher dagster-dbt starts
(launcher.py). The Dagster assets (orchestration/defs/dbt), the CLI, the run log and the Superset sync all use
these; none of them imports Dagster."""
