#!/usr/bin/env bash
# UI benchmark: builds the UI and mltrack, starts mltrack on a fresh SQLite
# file, fills it and measures (tests/browser/perf.mjs). Results: $OUT_DIR/perf.json.
#   TABLE_RUNS (10000), CHART_RUNS (100), CHART_STEPS (100000): smaller for a quick run.
#   PORT (19200), OUT_DIR (tests/browser/test-results), NO_BUILD=1 to reuse the web build.
#   PERF_DATA=dir keeps the database there; then SKIP_FILL=1 measures it again without refilling
#   (perf-ids.json, in OUT_DIR, names the filled experiments: keep OUT_DIR with the data).
#   FILL_ONLY=1 fills and measures nothing; SKIP_TABLE=1 / SKIP_CHART=1 measure one part only.
#   Each run starts a fresh server with the history cache's start-up warm-up off, so the chart's
#   first navigation is cold (empty history cache). Then, unless SKIP_CHART=1 or NO_WARMUP=1, two
#   more fresh servers with the warm-up on (the default): one navigated to at once, while it warms
#   ($OUT_DIR/perf-during-warmup.json), and one navigated to after its "history cache warmed" log
#   line ($OUT_DIR/perf-after-warmup.json); the warm-up's log lines go to $OUT_DIR/perf-warmup.log.
#   Then, unless NO_SNAPSHOT=1 too, a restart: a server warms up, is stopped with SIGTERM (it saves
#   its history cache to $OUT_DIR/perf-history.cache), is started again (it loads the snapshot) and
#   navigated to at once ($OUT_DIR/perf-after-restart.json; log lines in perf-warmup.log); and a
#   crash: a server saving its cache every 2 s (--history-cache-save-every) warms up, is killed
#   with SIGKILL, is started again and navigated to at once ($OUT_DIR/perf-after-kill.json).
#   Every other server runs with --history-cache-file '': no snapshot is read or written.
#   PERF_BACKEND=URI measures another store (e.g. an mlruns folder) instead of $PERF_DATA/m.db,
#   with SKIP_FILL=1 and a perf-ids.json naming its experiments and chart runs; CHART_KEY names
#   the charted metric when it is not "loss". A file store keeps no snapshots: set NO_SNAPSHOT=1.
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
# start_server LOG FLAGS...: a fresh server on the data; returns once it answers.
start_server() {
  local log="$1"; shift
  setsid "$DATA/mltrack" server --backend-store-uri "${PERF_BACKEND:-sqlite:///$DATA/m.db}" --host 127.0.0.1 --port "$PORT" \
    --static-prefix /mlflow "$@" >"$log" 2>&1 &
  PID=$!
  for _ in $(seq 1 120); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/mlflow/health" 2>/dev/null && break; sleep 0.5; done
}
stop_server() { kill -- "-$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }
# wait_warm LOG: until the server logs the end of its warm-up (10 minutes at most).
wait_warm() {
  for _ in $(seq 1 1200); do grep -q 'history cache warm' "$1" && break; sleep 0.5; done
  grep 'history cache warm' "$1" | tee -a "$OUT_DIR/perf-warmup.log"
}
export BASE_URL="http://127.0.0.1:$PORT/mlflow/" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

start_server "$OUT_DIR/perf-server.log" --log-level warn --history-cache-warm=false --history-cache-file ''
echo "== load before: $(uptime)"
(cd "$HERE" && node perf.mjs)
echo "== load after: $(uptime)"
stop_server
if [[ -z "${SKIP_CHART:-}" && -z "${FILL_ONLY:-}" && -z "${NO_WARMUP:-}" ]]; then
  : >"$OUT_DIR/perf-warmup.log"
  echo "== warm-up, navigated at once: $(uptime)"
  start_server "$OUT_DIR/perf-server-during.log" --log-level info --history-cache-file ''
  (cd "$HERE" && SKIP_FILL=1 SKIP_TABLE=1 CHART_NAVS=1 RESULT_FILE=perf-during-warmup.json node perf.mjs) >/dev/null
  wait_warm "$OUT_DIR/perf-server-during.log"
  node -e 'const r = require(process.argv[1]); console.log(`first chart during warm-up: ${(r.chartCold.drawnMs / 1000).toFixed(2)} s`)' "$OUT_DIR/perf-during-warmup.json"
  stop_server
  echo "== warm-up, navigated after it: $(uptime)"
  t0=$(date +%s.%N)
  start_server "$OUT_DIR/perf-server-after.log" --log-level info --history-cache-file ''
  wait_warm "$OUT_DIR/perf-server-after.log"
  echo "server start to warm-up logged: $(echo "$(date +%s.%N) - $t0" | bc) s" | tee -a "$OUT_DIR/perf-warmup.log"
  echo "server RSS after warm-up: $(( $(ps -o rss= -p "$PID") / 1024 )) MiB" | tee -a "$OUT_DIR/perf-warmup.log"
  (cd "$HERE" && SKIP_FILL=1 SKIP_TABLE=1 CHART_NAVS=1 RESULT_FILE=perf-after-warmup.json node perf.mjs) >/dev/null
  node -e 'const r = require(process.argv[1]); console.log(`first chart after warm-up: ${(r.chartCold.drawnMs / 1000).toFixed(2)} s`)' "$OUT_DIR/perf-after-warmup.json"
  stop_server
  echo "== load after warm-up runs: $(uptime)"
  if [[ -z "${NO_SNAPSHOT:-}" ]]; then
    snap="$OUT_DIR/perf-history.cache"
    rm -f "$snap"
    echo "== restart from a snapshot: $(uptime)"
    start_server "$OUT_DIR/perf-server-snapshot1.log" --log-level info --history-cache-file "$snap"
    wait_warm "$OUT_DIR/perf-server-snapshot1.log" >/dev/null
    stop_server
    grep 'history cache snapshot' "$OUT_DIR/perf-server-snapshot1.log" | tee -a "$OUT_DIR/perf-warmup.log"
    ls -l "$snap" | tee -a "$OUT_DIR/perf-warmup.log"
    t0=$(date +%s.%N)
    start_server "$OUT_DIR/perf-server-snapshot2.log" --log-level info --history-cache-file "$snap"
    echo "server start to health answered: $(echo "$(date +%s.%N) - $t0" | bc) s" | tee -a "$OUT_DIR/perf-warmup.log"
    (cd "$HERE" && SKIP_FILL=1 SKIP_TABLE=1 CHART_NAVS=1 RESULT_FILE=perf-after-restart.json node perf.mjs) >/dev/null
    grep 'history cache' "$OUT_DIR/perf-server-snapshot2.log" | tee -a "$OUT_DIR/perf-warmup.log"
    node -e 'const r = require(process.argv[1]); console.log(`first chart after a restart from a snapshot: ${(r.chartCold.drawnMs / 1000).toFixed(2)} s`)' "$OUT_DIR/perf-after-restart.json"
    stop_server
    rm -f "$snap"
    echo "== restart after kill -9, from the snapshot saved while serving: $(uptime)"
    start_server "$OUT_DIR/perf-server-kill1.log" --log-level info --history-cache-file "$snap" --history-cache-save-every 2s
    wait_warm "$OUT_DIR/perf-server-kill1.log" >/dev/null
    for _ in $(seq 1 50); do [[ -s "$snap" ]] && break; sleep 0.2; done
    sleep 3 # the save after the warm-up's last entry
    kill -KILL -- "-$PID"; wait "$PID" 2>/dev/null || true; PID=""
    ls -l "$snap" | tee -a "$OUT_DIR/perf-warmup.log"
    start_server "$OUT_DIR/perf-server-kill2.log" --log-level info --history-cache-file "$snap"
    (cd "$HERE" && SKIP_FILL=1 SKIP_TABLE=1 CHART_NAVS=1 RESULT_FILE=perf-after-kill.json node perf.mjs) >/dev/null
    grep 'history cache' "$OUT_DIR/perf-server-kill2.log" | tee -a "$OUT_DIR/perf-warmup.log"
    node -e 'const r = require(process.argv[1]); console.log(`first chart after kill -9 and a restart: ${(r.chartCold.drawnMs / 1000).toFixed(2)} s`)' "$OUT_DIR/perf-after-kill.json"
    stop_server
    rm -f "$snap"
    echo "== load after the restart runs: $(uptime)"
  fi
fi
