#!/usr/bin/env bash
# Runs the whole benchmark: real `mlflow server` and `mltrack server`, each on
# a fresh SQLite database and a free loopback port, driven by bench/load; then
# the SQLite insert ceiling for three Go drivers. Prints a markdown report with
# absolute numbers, mltrack/MLflow ratios measured in this same run, and the
# exact commands. Nothing here asserts a time.
#
# Environment (defaults in brackets):
#   MLFLOW_VENV   virtualenv with mlflow installed [<repo>/.venv]
#   MLTRACK_BIN   mltrack binary; built from the repo if missing [<repo>/bin/mltrack]
#   DURATION      length of each log-batch level [15s]
#   CLIENTS       log-batch concurrency levels [1,8]
#   RUNS_COMMON   runs both servers are filled with before the timed searches [1000]
#   RUNS_MLTRACK  mltrack is then filled further to this many and searched again [10000]
#   SEARCHES      timed search-runs requests per stage [50]
#   CEILING_ROWS  metric rows per driver for the ceiling [1000000]
#   SDK_POINTS    metric points the Go SDK logs into each server [100000; MLflow gets a tenth]
#   PORT_START    first loopback port to try [16100]
#   KEEP          1 keeps the work directory (databases, logs)
# A full run takes about 6-10 minutes on 2 cores. MLflow fills runs at a few
# dozen per second on such a machine, so by default it gets RUNS_COMMON runs
# rather than 10,000; the search ratio compares both servers at RUNS_COMMON.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
MLFLOW_VENV=${MLFLOW_VENV:-$repo/.venv}
MLTRACK_BIN=${MLTRACK_BIN:-$repo/bin/mltrack}
DURATION=${DURATION:-15s}
CLIENTS=${CLIENTS:-1,8}
RUNS_COMMON=${RUNS_COMMON:-1000}
RUNS_MLTRACK=${RUNS_MLTRACK:-10000}
SEARCHES=${SEARCHES:-50}
CEILING_ROWS=${CEILING_ROWS:-1000000}
SDK_POINTS=${SDK_POINTS:-100000}
PORT_START=${PORT_START:-16100}

work=$(mktemp -d "${TMPDIR:-/tmp}/mltrack-bench.XXXXXX")
server_pid=""
commands=()

cleanup() {
	if [[ -n "$server_pid" ]]; then stop_server; fi
	if [[ "${KEEP:-0}" == 1 ]]; then
		echo "work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

log() { echo "[bench] $*" >&2; }

# run_logged records a command for the report and runs it.
run_logged() {
	commands+=("$*")
	"$@"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
	local p=$1
	while port_in_use "$p"; do p=$((p + 1)); done
	echo "$p"
}

# start_server NAME PORT CMD... starts a server in the background and waits
# for /health.
start_server() {
	local name=$1 port=$2
	shift 2
	commands+=("$*")
	# Its own process group, so stopping it also stops MLflow's workers and
	# job-runner processes.
	setsid "$@" >"$work/$name.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 180); do
		if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
			log "$name is up on port $port (pid $server_pid)"
			return 0
		fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			log "$name exited; last lines of its log:"
			tail -20 "$work/$name.log" >&2
			server_pid=""
			return 1
		fi
		sleep 1
	done
	log "$name did not become healthy in 180 s"
	stop_server
	return 1
}

stop_server() {
	kill -TERM -- "-$server_pid" 2>/dev/null || true
	for _ in $(seq 30); do
		kill -0 -- "-$server_pid" 2>/dev/null || break
		sleep 1
	done
	kill -KILL -- "-$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# load_against NAME PORT RUNS writes RESULT lines to $work/NAME.results.
load_against() {
	local name=$1 port=$2 runs=$3
	if run_logged timeout 600 "$work/load" --url "http://127.0.0.1:$port" --clients "$CLIENTS" \
		--duration "$DURATION" --runs "$runs" --searches "$SEARCHES" --pid "$server_pid" \
		>"$work/$name.results" 2>"$work/$name.load.log"; then
		log "$name load done"
	else
		log "$name load FAILED; see below"
		tail -5 "$work/$name.load.log" >&2
		echo "FAILED" >>"$work/$name.results"
	fi
}

# sdk_against NAME PORT POINTS appends the Go SDK's logging rate to NAME.results.
sdk_against() {
	local name=$1 port=$2 points=$3 out
	if out=$(run_logged timeout 900 "$work/sdk" --url "http://127.0.0.1:$port" --points "$points" 2>>"$work/$name.load.log"); then
		awk '$1 == "sdk_points_per_s" { print "RESULT sdk_points_per_sec " $2 }' <<<"$out" >>"$work/$name.results"
		log "$name sdk done"
	else
		log "$name sdk FAILED"
	fi
}

get() { # get FILE NAME -> value or empty
	[[ -f "$1" ]] && awk -v k="$2" '$1 == "RESULT" && $2 == k { print $3 }' "$1" || true
}

fmt() { # fmt VALUE -> rounded, or "n/a"
	if [[ -z "$1" ]]; then echo "n/a"; else awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else printf "%.3g", v }'; fi
}

ratio() { # ratio A B -> A/B
	if [[ -z "$1" || -z "$2" ]]; then echo "n/a"; else awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.3g", a / b }'; fi
}

log "work directory $work; building the benchmark tools"
cd "$here"
run_logged go build -o "$work/load" ./load
run_logged go build -o "$work/sdk" ./sdk
run_logged go build -o "$work/ceiling" ./ceiling
run_logged go build -tags mattn -o "$work/ceiling-mattn" ./ceiling

mlflow_version=$("$MLFLOW_VENV/bin/mlflow" --version 2>/dev/null | awk '{ print $NF }' || true)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# --- MLflow ---------------------------------------------------------------
if [[ -x "$MLFLOW_VENV/bin/mlflow" ]]; then
	port=$(free_port "$PORT_START")
	if start_server mlflow "$port" "$MLFLOW_VENV/bin/mlflow" server \
		--backend-store-uri "sqlite:///$work/mlflow.db" --default-artifact-root "$work/mlflow-artifacts" \
		--host 127.0.0.1 --port "$port" --history-cache-file ''; then
		load_against mlflow "$port" "$RUNS_COMMON"
		sdk_against mlflow "$port" $((SDK_POINTS / 10))
		stop_server
	fi
else
	log "no mlflow in $MLFLOW_VENV (set MLFLOW_VENV); skipping MLflow"
fi

# --- mltrack --------------------------------------------------------------
mltrack=$MLTRACK_BIN
if [[ ! -x "$mltrack" ]]; then
	log "$mltrack missing; building it"
	mltrack="$work/mltrack"
	commands+=("(cd $repo && go build -o $mltrack ./cmd/mltrack)")
	(cd "$repo" && go build -o "$mltrack" ./cmd/mltrack) || mltrack=""
fi
if [[ -n "$mltrack" ]]; then
	port=$(free_port "$PORT_START")
	if start_server mltrack "$port" "$mltrack" server \
		--backend-store-uri "sqlite:///$work/mltrack.db" --default-artifact-root "$work/mltrack-artifacts" \
		--host 127.0.0.1 --port "$port" --history-cache-file ''; then
		load_against mltrack "$port" "$RUNS_COMMON,$RUNS_MLTRACK"
		sdk_against mltrack "$port" "$SDK_POINTS"
		stop_server
	fi
fi

# --- SQLite ceiling -------------------------------------------------------
declare -A ceiling
for d in modernc ncruces mattn; do
	bin="$work/ceiling"
	[[ $d == mattn ]] && bin="$work/ceiling-mattn"
	commands+=("$bin --driver $d --rows $CEILING_ROWS")
	if out=$("$bin" --driver "$d" --rows "$CEILING_ROWS" 2>"$work/ceiling-$d.log"); then
		ceiling[$d]=$(sed -n 's/.*rows_per_sec=\([0-9.]*\).*/\1/p' <<<"$out")
	else
		log "ceiling $d failed: $(tail -1 "$work/ceiling-$d.log")"
		ceiling[$d]=""
	fi
done

# --- Report ---------------------------------------------------------------
M="$work/mlflow.results"
T="$work/mltrack.results"
row() { # row LABEL KEY BETTER
	local a b
	a=$(get "$M" "$2")
	b=$(get "$T" "$2")
	echo "| $1 | $(fmt "$a") | $(fmt "$b") | $(ratio "$b" "$a") | $3 |"
}
echo
echo "## Tracking server: MLflow $mlflow_version vs mltrack"
echo
echo "Machine: $(nproc) cores, load average $load_start at start and $(cut -d' ' -f1-3 /proc/loadavg) at end, $(go version | cut -d' ' -f3)."
echo "Other work on the machine skews absolute numbers; the ratios compare runs made minutes apart."
echo "Both servers on SQLite (fresh database), default settings (MLflow: its default worker count)."
echo
echo "| measurement | MLflow | mltrack | mltrack/MLflow | better |"
echo "|---|---:|---:|---:|---|"
IFS=, read -r -a levels <<<"$CLIENTS"
for c in "${levels[@]}"; do
	row "log-batch, $c client(s), metric points/s" "logbatch_c${c}_points_per_sec" higher
done
row "fill to $RUNS_COMMON runs (create + log-batch), runs/s" "fill_r${RUNS_COMMON}_runs_per_sec" higher
row "search-runs p50 ms, $RUNS_COMMON runs" "search_r${RUNS_COMMON}_p50_ms" lower
row "search-runs p95 ms, $RUNS_COMMON runs" "search_r${RUNS_COMMON}_p95_ms" lower
row "fill to $RUNS_MLTRACK runs, runs/s (mltrack only)" "fill_r${RUNS_MLTRACK}_runs_per_sec" higher
row "search-runs p50 ms, $RUNS_MLTRACK runs (mltrack only)" "search_r${RUNS_MLTRACK}_p50_ms" lower
row "search-runs p95 ms, $RUNS_MLTRACK runs (mltrack only)" "search_r${RUNS_MLTRACK}_p95_ms" lower
row "Go SDK LogMetric loop, metric points/s (flushed by End)" sdk_points_per_sec higher
row "peak RSS MB (VmHWM, process tree)" rss_hwm_mb lower
row "peak sampled RSS MB (VmRSS sum)" rss_peak_sampled_mb lower
for f in "$M" "$T"; do
	if grep -q FAILED "$f" 2>/dev/null; then echo; echo "Note: the load run against $(basename "$f" .results) failed part-way; n/a marks what it did not reach."; fi
	[[ -f "$f" ]] || { echo; echo "Note: $(basename "$f" .results) did not run."; }
done
echo
echo "Search: filter \`metrics.m1 > 0.5\`, order_by \`metrics.m2 DESC\`, max_results 100, $SEARCHES sequential requests after one warm-up."
echo "MLflow is filled to $RUNS_COMMON runs only (it fills at a few dozen runs/s on small machines); mltrack is searched at $RUNS_COMMON and again at $RUNS_MLTRACK."
echo
echo "## SQLite insert ceiling (metrics table, $CEILING_ROWS rows, no server)"
echo
echo "| driver | rows/s | vs modernc |"
echo "|---|---:|---:|"
for d in modernc ncruces mattn; do
	echo "| $d | $(fmt "${ceiling[$d]}") | $(ratio "${ceiling[$d]}" "${ceiling[modernc]}") |"
done
echo
echo "## Commands"
echo
echo '```'
for c in "${commands[@]}"; do echo "$c"; done
echo '```'
