# mltrack developer entry points. `make demo` trains six runs and serves the UI,
# `make run` starts the server, `make test` runs every test (Go on SQLite and
# PostgreSQL, the Python differential suite against the real MLflow 3.18.0
# server, the examples, and the web UI in headless Chromium).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO     ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN    := bin/mltrack
VENV   := .venv
# Extra flags for `make run`, e.g. ARGS='--backend-store-uri postgresql://...'.
ARGS   ?=

.PHONY: build ui run demo test test-python venv bench clean

# The UI is built into internal/webui/dist, which the binary embeds; it is
# rebuilt only when its sources change.
UI_SOURCES := $(shell find web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)
UI_INDEX   := internal/webui/dist/index.html

ui: $(UI_INDEX)

$(UI_INDEX): $(UI_SOURCES)
	@command -v npm >/dev/null || { echo "make: npm is needed to build the web UI (Node.js 20+)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build

build: ui
	$(GO) build -o $(BIN) ./cmd/mltrack

# The port comes from the same places the server reads it (flags aside), so
# the printed URL is right on CDSW/CML too.
run: build
	@port="$$(sed -n 's/.*--port[= ]*\([0-9][0-9]*\).*/\1/p' <<<'$(ARGS)')"; \
	port="$${port:-$${CDSW_APP_PORT:-$${CDSW_READONLY_PORT:-$${PORT:-$${MLFLOW_PORT:-5000}}}}}"; \
	echo "mltrack: http://$${MLFLOW_HOST:-127.0.0.1}:$$port  (export MLFLOW_TRACKING_URI=http://127.0.0.1:$$port)"
	./$(BIN) server $(ARGS)

# Six training runs of the Go demo trainer, then the UI until Ctrl-C.
demo: build
	bash scripts/demo.sh

venv:
	bash scripts/setup-venv.sh

# Every part runs even when an earlier one fails (one report shows all
# breakage); the target fails if any part failed. The PostgreSQL URI is read
# from the script's stdout; empty (outside CI, no PostgreSQL) makes PG tests skip.
test: venv build
	@pg_uri="$$(bash scripts/start-postgres.sh)"; \
	export MLTRACK_TEST_POSTGRES_URI="$$pg_uri"; \
	failed=""; \
	trap 'bash scripts/stop-s3.sh' EXIT; \
	if s3_env="$$(bash scripts/start-s3.sh)"; then eval "$$s3_env"; else failed="$$failed s3-server"; fi; \
	echo "== go vet ./..."; $(GO) vet ./... || failed="$$failed go-vet"; \
	echo "== go test -race ./... (MLTRACK_TEST_POSTGRES_URI=$${pg_uri:-unset})"; \
	$(GO) test -race ./... || failed="$$failed go-test"; \
	echo "== go test, pure-Go SQLite driver (CGO_ENABLED=0 builds)"; \
	CGO_ENABLED=0 $(GO) test ./internal/store/sqlstore/ || failed="$$failed go-test-purego"; \
	echo "== go test (examples/train and bench modules)"; \
	(cd examples/train && $(GO) test -tags noxla ./...) || failed="$$failed examples-train"; \
	(cd bench && $(GO) vet ./...) || failed="$$failed bench-vet"; \
	echo "== pytest tests/python"; \
	MLTRACK_BIN="$(CURDIR)/$(BIN)" $(VENV)/bin/python -m pytest tests/python -q -ra || failed="$$failed pytest"; \
	echo "== browser tests (web UI in headless Chromium against mltrack)"; \
	bash tests/browser/run.sh || failed="$$failed browser"; \
	if [[ -n "$$failed" ]]; then echo "make test: FAILED:$$failed" >&2; exit 1; fi; \
	echo "make test: all passed"

# Only the Python suite (assumes `make venv build` and, for PG, a running cluster).
test-python: venv build
	MLTRACK_BIN="$(CURDIR)/$(BIN)" MLTRACK_TEST_POSTGRES_URI="$${MLTRACK_TEST_POSTGRES_URI:-}" \
		$(VENV)/bin/python -m pytest tests/python -q -ra

# All benchmarks (about 20 minutes on 2 cores); docs/benchmarks.md holds the
# results and explains each figure. Nothing here asserts a time.
bench: build venv
	bash bench/run.sh
	cd bench && $(GO) run ./filestore -mltrack ../$(BIN)
	cd bench && $(GO) run ./artifacts --start ../$(BIN)

clean:
	rm -rf bin/ .pytest_cache tests/python/.pytest_cache tests/python/__pycache__ test-results/
	$(GO) clean -testcache
