# prophoto-ingest: `make run` starts the pipeline, `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
#: what running needs, without the test extras (`make test` installs those)
RUN_STAMP := $(VENV)/.installed-run

CHAOS_UPLOADS ?= 300

.PHONY: dashboards run test test-unit test-integration bench bench-upload bench-tus chaos soak lint install system-deps services up down clean typescript

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP) $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $(RUN_STAMP)

install: $(STAMP)

## system packages (Debian): ExifTool, libvips, ImageMagick (benchmark), Prometheus, Chromium
system-deps:
	@bash scripts/system-deps.sh

## start the whole pipeline on the embedded defaults (filesystem store under ./var); installs only
## what running needs (Python packages without the test extras; ExifTool and libvips)
run: $(RUN_STAMP)
	@echo "the page: http://127.0.0.1:$${PROPHOTO_UPLOAD_PORT:-8080}/  (sign in with dev-token; ready once the services below have started)"
	@bash scripts/system-deps.sh --quiet --run
	@bash scripts/services-up.sh
	$(BIN)/prophoto dev

## every test, on two pytest-xdist workers (16 minutes on one): the cluster tests keep to one worker and the
## browser tests to one (work_unit in tests/conftest.py), the rest is shared. The long versions run elsewhere. The benchmarks' smoke runs
## (tests/e2e/test_bench_smoke.py) use --quick on photos of at most 2 MP (PROPHOTO_BENCH_SMOKE);
## `make bench` measures on the full sizes. The full soak and the leader-loss scenario run in
## `make chaos`, the long broker refusal in `make soak`.
test: $(STAMP)
	@bash scripts/system-deps.sh --quiet
	@bash scripts/services-up.sh
	$(BIN)/python -m pytest -p no:cacheprovider -rfEs --durations=25 -n 2 tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

bench: $(STAMP)
	@bash scripts/system-deps.sh --quiet
	@bash scripts/services-up.sh
	$(BIN)/python -m bench

bench-upload: $(STAMP)
	@bash scripts/services-up.sh
	$(BIN)/python -m bench.upload

bench-tus: $(STAMP)
	@bash scripts/services-up.sh
	$(BIN)/python -m bench.tus

## the soak: CHAOS_UPLOADS unique uploads while services, cluster nodes and PostgreSQL are killed;
## then the leader-loss scenario (each work queue's leader killed mid-publish, a frozen worker)
chaos: $(STAMP)
	@bash scripts/system-deps.sh --quiet
	$(BIN)/python -m chaos --uploads $(CHAOS_UPLOADS) $(CHAOS_ARGS)

## the long outages: RabbitMQ refusing connections for 60 s (services wait, unready meanwhile),
## then the soak with 4 preview workers and the whole cluster down for two minutes
soak: $(STAMP)
	@bash scripts/system-deps.sh --quiet
	@bash scripts/services-up.sh
	PROPHOTO_TEST_REFUSAL_S=60 $(BIN)/python -m pytest -p no:cacheprovider -q -rfEs tests/integration/test_broker_refusal.py
	$(BIN)/python -m chaos --uploads $(CHAOS_UPLOADS) --preview-workers 4 --broker-outage 120 $(CHAOS_ARGS)

## the Grafana dashboards from scripts/dashboards.py (never edit their JSON by hand)
dashboards: $(STAMP)
	$(BIN)/python scripts/dashboards.py

lint: $(STAMP)
	$(BIN)/ruff check shared services prophoto tests bench chaos
	$(BIN)/mypy shared services prophoto tests/fakes

## the compose stack; the first run writes .env with random secrets (scripts/make-env.sh)
up:
	@bash scripts/make-env.sh .env
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf var .pytest_cache

## TypeScript types of the upload API from its OpenAPI document (openapi-typescript from npm)
typescript: $(STAMP)
	$(BIN)/python scripts/api_types.py
