#!/usr/bin/env bash
# UI benchmark: builds the UI and mltrack, starts mltrack on a fresh SQLite
# file, fills it and measures (tests/browser/perf.mjs). Results: $OUT_DIR/perf.json.
#   TABLE_RUNS (10000), CHART_RUNS (100), CHART_STEPS (100000): smaller for a quick run.
#   PORT (19200), OUT_DIR (tests/browser/test-results), NO_BUILD=1 to reuse the web build.
#   PERF_DATA=dir keeps the database there; then SKIP_FILL=1 measures it again without refilling
#   (perf-ids.json, in OUT_DIR, names the filled experiments: keep OUT_DIR with the data).
#   FILL_ONLY=1 fills and measures nothing; SKIP_TABLE=1 / SKIP_CHART=1 measure one part only.
#   Each run starts a fresh server, so the chart's first navigation is cold (empty history cache).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
PORT="${PORT:-19200}"
export OUT_DIR="${OUT_DIR:-$HERE/test-results}"
mkdir -p "$OUT_DIR"
DATA="${PERF_DATA:-$(mktemp -d)}"
mkdir -p "$DATA"
PID=""
cleanup() { [[ -n "$PID" ]] && kill -- "-$PID" 2>/dev/null || true; [[ -n "${PERF_DATA:-}" ]] || rm -rf "$DATA"; }
trap cleanup EXIT

(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
if [[ -z "${NO_BUILD:-}" ]]; then (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error && npm run build); fi
(cd "$ROOT" && "$GO" build -o "$DATA/mltrack" ./cmd/mltrack)
setsid "$DATA/mltrack" server --backend-store-uri "sqlite:///$DATA/m.db" --host 127.0.0.1 --port "$PORT" \
  --static-prefix /mlflow --log-level warn >"$OUT_DIR/perf-server.log" 2>&1 &
PID=$!
for _ in $(seq 1 120); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/mlflow/health" 2>/dev/null && break; sleep 0.5; done
echo "== load before: $(uptime)"
cd "$HERE" && BASE_URL="http://127.0.0.1:$PORT/mlflow/" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" node perf.mjs
echo "== load after: $(uptime)"
