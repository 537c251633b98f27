# The pipeline image: dbt, Dagster and the comptoir command, with the same pins as `make setup`.
FROM python:3.11-slim
WORKDIR /app
COPY requirements/pipeline.lock requirements/pipeline.lock
RUN pip install --no-cache-dir -r requirements/pipeline.lock
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
ENV COMPTOIR_HOME=/data/warehouse \
    COMPTOIR_SEEDS_DIR=/data/seeds \
    DAGSTER_HOME=/data/warehouse/dagster \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false
EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-m", "orchestration.definitions"]
