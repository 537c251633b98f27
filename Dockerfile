# Two images with the same pins as `make setup` (requirements/*.lock), for docker-compose.yml:
#   target `pipeline`: dbt, Dagster and the comptoir command (Dagster webserver, daemon, superset-sync)
#   target `superset`: Superset from the BI lock, with superset/superset_config.py
# Postgres drivers are the only additions: the local set-up keeps its metadata in SQLite.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS superset
WORKDIR /app
COPY requirements/bi.lock requirements/bi.lock
RUN pip install --no-cache-dir -r requirements/bi.lock psycopg2-binary==2.9.13
COPY superset/superset_config.py superset/superset_config.py
COPY superset/admin_user.py superset/admin_user.py
ENV SUPERSET_CONFIG_PATH=/app/superset/superset_config.py \
    FLASK_APP=superset \
    COMPTOIR_HOME=/data/superset-home
EXPOSE 8088
CMD ["gunicorn", "--no-control-socket", "--workers", "2", "--worker-class", "gthread", "--threads", "4", \
     "--timeout", "120", "--bind", "0.0.0.0:8088", "superset.app:create_app()"]

FROM ${PYTHON_IMAGE} AS pipeline
WORKDIR /app
# Pango: WeasyPrint renders the business reports' PDF with it (the reports assets and `comptoir report`).
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
COPY requirements/pipeline.lock requirements/pipeline.lock
RUN pip install --no-cache-dir -r requirements/pipeline.lock dagster-postgres==0.29.27 psycopg2-binary==2.9.13
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
# Dagster's run and event storage live in Postgres (DAGSTER_PG_* from docker-compose.yml).
RUN mkdir -p /opt/dagster/home && printf '%s\n' \
    'telemetry:' \
    '  enabled: false' \
    'storage:' \
    '  postgres:' \
    '    postgres_db:' \
    '      hostname: {env: DAGSTER_PG_HOST}' \
    '      username: {env: DAGSTER_PG_USER}' \
    '      password: {env: DAGSTER_PG_PASSWORD}' \
    '      db_name: {env: DAGSTER_PG_DB}' \
    '      port: 5432' \
    'compute_logs:' \
    '  module: dagster._core.storage.local_compute_log_manager' \
    '  class: LocalComputeLogManager' \
    '  config:' \
    '    base_dir: /data/warehouse/dagster/compute_logs' \
    > /opt/dagster/home/dagster.yaml
ENV COMPTOIR_HOME=/data/warehouse \
    COMPTOIR_SEEDS_DIR=/data/seeds \
    DAGSTER_HOME=/opt/dagster/home \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-m", "orchestration.definitions"]
