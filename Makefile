# Two commands on a fresh machine: `make run` (pipeline on synthetic data, then serve) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WORKDIR ?= .workdir
DELTA_VERSION = $(shell $(BIN)/python -c "import importlib.metadata as m; print(m.version('delta-spark'))")

.PHONY: setup sysdeps run pipeline serve test test-all bench-serving clean
SYSTEM_PACKAGES = chromium redis-server wrk

setup: $(VENV)/.installed $(VENV)/.jars

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip wheel
	$(BIN)/pip install -e ".[dev]"
	touch $@

# Delta Lake jars from Maven Central into ~/.m2, where Spark's resolver looks first: later runs work offline.
$(VENV)/.jars: $(VENV)/.installed
	mvn -q dependency:get -Dartifact=io.delta:delta-spark_2.13:$(DELTA_VERSION)
	$(BIN)/python -c "from conf import load_config; from jobs.spark import get_spark; get_spark(load_config()).stop()"
	touch $@

pipeline: setup
	$(BIN)/movierec pipeline --workdir $(WORKDIR) --report $(WORKDIR)/report.json

serve: setup
	$(BIN)/movierec serve --workdir $(WORKDIR)

run: pipeline serve

# Debian packages the tests and benches drive: a headless browser, a Redis server, a load generator.
sysdeps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo_=""; [ "$$(id -u)" -eq 0 ] || sudo_=sudo; \
	  $$sudo_ apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo_ apt-get install -y -q $$missing; \
	fi

test: setup sysdeps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-all: setup sysdeps
	$(BIN)/python -m pytest --runslow

clean:
	rm -rf $(WORKDIR) .pytest_cache
