# Every target sets itself up: a fresh clone needs nothing but python3 (and, for tests and
# benchmarks, the PostgreSQL/Redis servers this machine runs, which scripts/ensure-services.sh
# starts when they are down, and Debian's prometheus package, which
# scripts/install-prometheus.sh installs when missing).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.slo-engine/dagster
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv demo test lint typecheck pytest bench bench-load services clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

services:
	bash scripts/ensure-services.sh
	bash scripts/install-prometheus.sh

demo: venv
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/slo-engine demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv services
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

bench: venv services
	$(BIN)/python benchmarks/graph_store.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/telemetry_fetch.py
	$(BIN)/python benchmarks/composite_availability.py
	$(BIN)/python benchmarks/recommendations_pipeline.py
	$(BIN)/python benchmarks/recommendations_scale.py
	$(BIN)/python benchmarks/prometheus_shards.py --services 10000 --repeat 3
	$(BIN)/python benchmarks/api_scale.py
	$(BIN)/python benchmarks/recommendation_api.py
	$(BIN)/python benchmarks/impact_analysis.py
	$(BIN)/python benchmarks/bogus_keys.py

# The API under locust (a dev dependency): 200 users on a published 5,000-service fleet
# (about 6 minutes).
bench-load: venv services
	$(BIN)/python benchmarks/load_test.py $(LOAD_ARGS)

clean:
	rm -rf .slo-engine .pytest_cache .mypy_cache .ruff_cache
