# mltrack developer entry points. `make run` starts the server, `make test` runs
# every test (Go on SQLite and PostgreSQL, then the Python differential suite
# against the real MLflow 3.18.0 server).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO     ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN    := bin/mltrack
VENV   := .venv
# Extra flags for `make run`, e.g. ARGS='--backend-store-uri postgresql://...'.
ARGS   ?=

.PHONY: build run test test-python venv bench clean

build:
	$(GO) build -o $(BIN) ./cmd/mltrack

# The port comes from the same places the server reads it (flags aside), so
# the printed URL is right on CDSW/CML too.
run: build
	@port="$$(sed -n 's/.*--port[= ]*\([0-9][0-9]*\).*/\1/p' <<<'$(ARGS)')"; \
	port="$${port:-$${CDSW_APP_PORT:-$${CDSW_READONLY_PORT:-$${PORT:-$${MLFLOW_PORT:-5000}}}}}"; \
	echo "mltrack: http://$${MLFLOW_HOST:-127.0.0.1}:$$port  (export MLFLOW_TRACKING_URI=http://127.0.0.1:$$port)"
	./$(BIN) server $(ARGS)

venv:
	bash scripts/setup-venv.sh

# Every part runs even when an earlier one fails (one report shows all
# breakage); the target fails if any part failed. The PostgreSQL URI is read
# from the script's stdout; empty (outside CI, no PostgreSQL) makes PG tests skip.
test: venv build
	@pg_uri="$$(bash scripts/start-postgres.sh)"; \
	export MLTRACK_TEST_POSTGRES_URI="$$pg_uri"; \
	failed=""; \
	echo "== go vet ./..."; $(GO) vet ./... || failed="$$failed go-vet"; \
	echo "== go test -race ./... (MLTRACK_TEST_POSTGRES_URI=$${pg_uri:-unset})"; \
	$(GO) test -race ./... || failed="$$failed go-test"; \
	echo "== pytest tests/python"; \
	MLTRACK_BIN="$(CURDIR)/$(BIN)" $(VENV)/bin/python -m pytest tests/python -q -ra || failed="$$failed pytest"; \
	if [[ -n "$$failed" ]]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: all passed"

# Only the Python suite (assumes `make venv build` and, for PG, a running cluster).
test-python: venv build
	MLTRACK_BIN="$(CURDIR)/$(BIN)" MLTRACK_TEST_POSTGRES_URI="$${MLTRACK_TEST_POSTGRES_URI:-}" \
		$(VENV)/bin/python -m pytest tests/python -q -ra

bench: build
	bash bench/run.sh

clean:
	rm -rf bin/ .pytest_cache tests/python/.pytest_cache tests/python/__pycache__ test-results/
	$(GO) clean -testcache
