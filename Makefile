# Comptoir: `make run` sets everything up and serves it; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_BI := .venv-bi
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check
SEEDS ?= $(or $(COMPTOIR_SEEDS_DIR),seeds)
HOME_DIR := $(or $(COMPTOIR_HOME),warehouse)
PUBLISHED := $(HOME_DIR)/published/comptoir.duckdb
# What a build reads: the landing files and the pipeline's code (not the dashboards, not Superset's client).
BUILD_INPUTS = $(shell find "$(SEEDS)" orchestration ml dbt_project/models dbt_project/macros dbt_project/tests \
	-type f -not -name '*.pyc' -not -path 'orchestration/superset/*' 2>/dev/null) \
	dbt_project/dbt_project.yml requirements/pipeline.lock

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: setup sample build run serve test test-fast test-deps dev lint lock clean help published-check bench

help:
	@echo "make run    set up, generate the sample if $(SEEDS)/ is empty, build and publish (when something"
	@echo "            changed), serve Superset on :8088, the Dagster UI on :3000 and the API on :8000"
	@echo "make build  build and publish the warehouse, always"
	@echo "make test   set up and run every test (installs Debian's chromium when missing and run as root)"
	@echo "make test-fast  the edit loop: ruff, unit tests, and the sample through raw load + dbt (no ML), ~3 min"
	@echo "make dev    after editing dbt models: rebuild and test only what changed and its children, publish"
	@echo "make bench  measure builds against their replayed SQL, pandas and a one-day incremental run, then"
	@echo "            the API's and the dashboards' latency on each size's build;"
	@echo "            writes docs/benchmarks.md (BENCH_LINES=\"sample 1M 10M\" adds 10 M lines, ~15 min more)"
	@echo "make lint   ruff and sqlfluff"
	@echo "make lock   re-pin requirements/*.lock from requirements/*.in"
	@echo "make clean  remove the warehouse (COMPTOIR_HOME, default ./warehouse)"

setup: $(VENV)/.installed $(VENV_BI)/.installed
	@$(MAKE) --no-print-directory test-deps TEST_DEPS_OPTIONAL=1

# Debian packages the tests drive: Chromium for the dashboard test (playwright never downloads a browser here), and
# the Pango libraries WeasyPrint renders the business reports' PDF with. Installed when missing if we are root with
# apt-get; `make setup` only warns otherwise, `make test` stops at once.
DEBIAN_TEST_PACKAGES := chromium
DEBIAN_LIBRARIES := libpango-1.0-0 libpangoft2-1.0-0
test-deps:
	@missing=""; for package in $(DEBIAN_TEST_PACKAGES); do \
	  [ -x "/usr/bin/$$package" ] || missing="$$missing $$package"; done; \
	for package in $(DEBIAN_LIBRARIES); do \
	  dpkg-query -W -f='$${Status}' "$$package" 2>/dev/null | grep -q "install ok installed" \
	    || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing Debian packages the tests need:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  elif [ -n "$(TEST_DEPS_OPTIONAL)" ]; then \
	    echo "note: the browser tests need Debian packages:$$missing (sudo apt-get install -y$$missing)"; \
	  else \
	    echo "error: the tests need Debian packages:$$missing. Run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi

# The stamp depends on the lock and the project metadata, so a changed pin reinstalls.
$(VENV)/.installed: requirements/pipeline.lock pyproject.toml
	@echo "==> creating $(VENV) (pipeline: dbt, Dagster, ML)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) pip==26.3
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements/pipeline.lock
	$(BIN)/python -m pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

$(VENV_BI)/.installed: requirements/bi.lock
	@echo "==> creating $(VENV_BI) (BI: Superset)"
	test -x $(VENV_BI)/bin/python || $(PYTHON) -m venv $(VENV_BI)
	$(VENV_BI)/bin/python -m pip install $(PIP_FLAGS) pip==26.3
	$(VENV_BI)/bin/python -m pip install $(PIP_FLAGS) -r requirements/bi.lock
	$(VENV_BI)/bin/python -m pip check
	touch $@

# Generate the default sample only when the landing folder holds no orders file.
sample: setup
	@if [ ! -e "$(SEEDS)/orders.csv" ]; then $(BIN)/comptoir generate --out "$(SEEDS)"; fi

build: sample
	$(BIN)/comptoir build --seeds "$(SEEDS)"
	@$(MAKE) --no-print-directory published-check

# A second `make run` with nothing changed skips the build: the published warehouse is remade only when a
# landing file or the pipeline's code is newer than it. Superset is initialised the first time only.
run: sample $(PUBLISHED)
	$(BIN)/comptoir superset init
	$(BIN)/comptoir serve --seeds "$(SEEDS)"

$(PUBLISHED): $(BUILD_INPUTS) | sample
	$(BIN)/comptoir build --seeds "$(SEEDS)"
	@$(MAKE) --no-print-directory published-check

# The build publishes its file when every step succeeded (asset published/warehouse). Should the build file be
# newer than the published copy anyway (a build made before that asset was registered), publish it now.
published-check:
	@[ "$(PUBLISHED)" -nt "$(HOME_DIR)/comptoir.duckdb" ] || $(BIN)/comptoir superset publish

serve: setup
	$(BIN)/comptoir serve

# Two workers (pytest-xdist), one per core: most tests wait on a subprocess, a server or a browser, so one worker
# keeps one core busy. A test module stays on one worker (its module fixtures are built once); the sample build
# the session shares is built once for both (tests/conftest.py).
TEST_WORKERS ?= 2
test: setup test-deps lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The edit loop (within ~3 min): everything but the tests marked slow (servers, browsers, full builds with ML), then
# the committed sample through the raw load and `dbt build` (every model, data test and dbt unit test), no ML.
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/pytest -m "not slow" -x -q -n $(TEST_WORKERS) --dist loadfile
	$(BIN)/pytest -q "tests/integration/test_incremental.py::test_the_first_dagster_run_builds_every_model_and_runs_every_test"

# After editing dbt models: `dbt build` of the models changed since the last build and their children, then publish.
dev: setup
	$(BIN)/comptoir build --changed

# Landing folders are generated once and cached under $(HOME_DIR)/bench; the report is docs/benchmarks.md.
BENCH_LINES ?= sample 1M
bench: setup
	$(BIN)/comptoir bench --lines $(BENCH_LINES)

# sqlfluff's dbt templater compiles the project from its folder; an in-memory database spares it
# the warehouse file (which may not exist yet, or be busy).
lint: setup
	$(BIN)/ruff check .
	cd dbt_project && COMPTOIR_DUCKDB_PATH=:memory: ../$(BIN)/sqlfluff lint models tests --processes 2

# One fresh venv per environment; the lock is its `pip freeze`.
lock: lock-pipeline lock-bi

lock-%:
	rm -rf /tmp/comptoir-lock-$* && $(PYTHON) -m venv /tmp/comptoir-lock-$*
	/tmp/comptoir-lock-$*/bin/pip install $(PIP_FLAGS) pip==26.3
	/tmp/comptoir-lock-$*/bin/pip install $(PIP_FLAGS) -r requirements/$*.in
	/tmp/comptoir-lock-$*/bin/pip check
	{ echo "# Full pinned tree of the $(if $(filter bi,$*),BI environment (.venv-bi),pipeline environment (.venv)), from 'pip freeze' after installing"; \
	  echo "# requirements/$*.in. Regenerate with 'make lock'."; \
	  /tmp/comptoir-lock-$*/bin/pip freeze --exclude-editable; } > requirements/$*.lock
	rm -rf /tmp/comptoir-lock-$*

clean:
	rm -rf "$${COMPTOIR_HOME:-warehouse}"
