#!/usr/bin/env bash
# Browser tests for the web UI. Installs what it needs (npm packages, Debian's
# chromium if missing), builds the UI, fills a tracking server with the real
# MLflow client and runs the tests in headless Chromium.
#
#   BASE_URL     UI under test, e.g. http://127.0.0.1:5000/ (mltrack serving UI + API).
#                Unset: starts a server chosen by SUBJECT.
#   SUBJECT      mltrack (default): bin/mltrack on a fresh SQLite file, serving the UI
#                under /mlflow/ (--static-prefix); mlflow: the real `mlflow server` for
#                the API with tests/browser/uiproxy (the embedded UI under /mlflow/) in front.
#   TRACKING_URI where seed.py logs (default: BASE_URL without the trailing slash)
#   PYTHON       python with mlflow installed (default: the repo's .venv)
#   OUT_DIR      screenshots, logs and seed summary (default: tests/browser/test-results)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
OUT_DIR="${OUT_DIR:-$HERE/test-results}"
mkdir -p "$OUT_DIR"

if [[ -z "${PYTHON:-}" ]]; then
  for p in "$ROOT/.venv/bin/python"; do
    if [[ -x "$p" ]] && "$p" -c 'import mlflow' 2>/dev/null; then PYTHON="$p"; break; fi
  done
fi
[[ -n "${PYTHON:-}" ]] || { echo "run.sh: set PYTHON to a python with mlflow installed (make venv)" >&2; exit 1; }

PIDS=()
# Servers run in their own process group (setsid) so their workers stop too.
cleanup() { for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_http() {
  for _ in $(seq 1 360); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.5; done
  echo "run.sh: $1 did not come up" >&2; return 1
}

# A port nobody listens on, from 19011 up: a server left over from an earlier
# run must not be tested in place of the one this run builds.
free_port() {
  local p
  for p in $(seq "${1:-19011}" 19099); do
    [[ " ${TAKEN:-} " == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then TAKEN="${TAKEN:-} $p"; echo "$p"; return 0; fi
  done
  echo "run.sh: no free port in 19011-19099" >&2; return 1
}

OWN_SERVER=""
SUBJECT="${SUBJECT:-mltrack}"
if [[ -z "${BASE_URL:-}" ]]; then
  OWN_SERVER=1
  MLFLOW_PORT="${MLFLOW_PORT:-$(free_port 19011)}"
  TAKEN=" $MLFLOW_PORT "
  UI_PORT="${UI_PORT:-$(free_port 19012)}"
  DATA="$(mktemp -d)"
fi
if [[ -n "$OWN_SERVER" && "$SUBJECT" == mlflow ]]; then
  # Started first: the MLflow server takes a while to come up.
  echo "== starting mlflow server on :$MLFLOW_PORT (data in $DATA)"
  setsid "$(dirname "$PYTHON")/mlflow" server --backend-store-uri "sqlite:///$DATA/m.db" \
    --default-artifact-root "$DATA/art" --host 127.0.0.1 --port "$MLFLOW_PORT" >"$OUT_DIR/mlflow-server.log" 2>&1 &
  PIDS+=($!)
fi

export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "== installing chromium (apt)"
  SUDO=""; [[ "$(id -u)" == 0 ]] || SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium
fi

echo "== npm ci (web, tests/browser)"
(cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
echo "== unit tests and build (web)"
(cd "$ROOT/web" && npx vitest run && npm run build)

if [[ -n "$OWN_SERVER" && "$SUBJECT" == mltrack ]]; then
  # Built after the UI so the binary embeds this build.
  echo "== building and starting mltrack on :$UI_PORT under /mlflow (data in $DATA)"
  (cd "$ROOT" && "$GO" build -o "$DATA/mltrack" ./cmd/mltrack)
  # A plain background command, so $! is mltrack itself (a subshell around it
  # would record the subshell's pid and leave the server running at exit).
  cd "$DATA"
  setsid "$DATA/mltrack" server --backend-store-uri "sqlite:///$DATA/m.db" \
    --host 127.0.0.1 --port "$UI_PORT" --static-prefix /mlflow --history-cache-file '' >"$OUT_DIR/mltrack-server.log" 2>&1 &
  MLTRACK_PID=$!
  PIDS+=("$MLTRACK_PID")
  cd "$ROOT"
  wait_http "http://127.0.0.1:$UI_PORT/mlflow/health"
  kill -0 "$MLTRACK_PID" 2>/dev/null || { echo "run.sh: mltrack exited; see $OUT_DIR/mltrack-server.log" >&2; exit 1; }
  BASE_URL="http://127.0.0.1:$UI_PORT/mlflow/"
  TRACKING_URI="http://127.0.0.1:$UI_PORT/mlflow"
elif [[ -n "$OWN_SERVER" ]]; then
  echo "== starting uiproxy on :$UI_PORT (embedded UI under /mlflow/, API from :$MLFLOW_PORT)"
  (cd "$ROOT" && "$GO" build -o "$DATA/uiproxy" ./tests/browser/uiproxy)
  setsid "$DATA/uiproxy" -addr "127.0.0.1:$UI_PORT" -api "http://127.0.0.1:$MLFLOW_PORT" -prefix /mlflow \
    >"$OUT_DIR/uiproxy.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health"
  BASE_URL="http://127.0.0.1:$UI_PORT/mlflow/"
  TRACKING_URI="http://127.0.0.1:$MLFLOW_PORT"
fi
BASE_URL="${BASE_URL%/}/"
TRACKING_URI="${TRACKING_URI:-${BASE_URL%/}}"
wait_http "$BASE_URL"

echo "== seeding $TRACKING_URI with the MLflow client"
MLFLOW_TRACKING_URI="$TRACKING_URI" "$PYTHON" "$HERE/seed.py" "$OUT_DIR/seed.json" >/dev/null

echo "== browser tests against $BASE_URL"
cd "$HERE"
BASE_URL="$BASE_URL" SEED_JSON="$OUT_DIR/seed.json" OUT_DIR="$OUT_DIR/screenshots" \
  node --test --test-concurrency=1 --test-reporter=spec ui.test.mjs

if [[ -n "$OWN_SERVER" && "$SUBJECT" == mltrack ]]; then
  # The seed's own setup: the MLflow client writes an mlruns folder, mltrack serves it.
  echo "== mlruns: written by the MLflow client, served by mltrack"
  MLFLOW_ALLOW_FILE_STORE=true "$PYTHON" "$HERE/seed_mlruns.py" "$DATA/mlruns" "$OUT_DIR/seed-mlruns.json" >/dev/null
  TAKEN="${TAKEN:-} $UI_PORT "
  ML_PORT="$(free_port 19013)"
  setsid "$DATA/mltrack" server --backend-store-uri "$DATA/mlruns" \
    --host 127.0.0.1 --port "$ML_PORT" --static-prefix /mlflow >"$OUT_DIR/mltrack-mlruns.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$ML_PORT/mlflow/health"
  BASE_URL="http://127.0.0.1:$ML_PORT/mlflow/" SEED_JSON="$OUT_DIR/seed-mlruns.json" OUT_DIR="$OUT_DIR/screenshots" \
    node --test --test-concurrency=1 --test-reporter=spec mlruns.test.mjs
fi
echo "screenshots: $OUT_DIR/screenshots"
