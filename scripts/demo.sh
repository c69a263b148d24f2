#!/usr/bin/env bash
# The mltrack demo: builds bin/mltrack and the Go demo trainer
# (examples/train), starts `mltrack server` unless one already answers on the
# port, trains six small networks over an (lr, hidden) grid, logging each as
# an MLflow run, prints the UI address and keeps serving until Ctrl-C.
#
# Environment (all optional):
#   HOST, PORT               where the server listens (127.0.0.1, 5000)
#   BACKEND_STORE_URI        store of a server we start (sqlite:///mlflow.db, in the repo root)
#   MLFLOW_EXPERIMENT_NAME   experiment for the runs (mltrack-demo)
#   EPOCHS                   epochs per run (300)
#   DEMO_NO_WAIT=1           exit after training instead of serving (stops a server we started)
#
# Artifacts (weights, loss plot) are uploaded through MLflow's artifact proxy;
# until mltrack serves that route the trainer prints a warning per file and
# the runs are still complete.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
BACKEND_STORE_URI="${BACKEND_STORE_URI:-sqlite:///mlflow.db}"
EPOCHS="${EPOCHS:-300}"
export MLFLOW_EXPERIMENT_NAME="${MLFLOW_EXPERIMENT_NAME:-mltrack-demo}"
URL="http://$HOST:$PORT"
export MLFLOW_TRACKING_URI="$URL"

echo "demo: building bin/mltrack and bin/train" >&2
mkdir -p bin
"$GO" build -o bin/mltrack ./cmd/mltrack
(cd examples/train && "$GO" build -tags noxla -o "$ROOT/bin/train" .)

healthy() { curl -fsS -o /dev/null --max-time 2 "$URL/health" 2>/dev/null; }

server_pid=""
cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if healthy; then
	echo "demo: a server already answers at $URL; using it" >&2
else
	echo "demo: starting mltrack server at $URL (store $BACKEND_STORE_URI)" >&2
	./bin/mltrack server --host "$HOST" --port "$PORT" --backend-store-uri "$BACKEND_STORE_URI" --log-level warn &
	server_pid=$!
	for _ in $(seq 1 100); do
		healthy && break
		kill -0 "$server_pid" 2>/dev/null || { echo "demo: mltrack server exited at start-up" >&2; exit 1; }
		sleep 0.1
	done
	healthy || { echo "demo: mltrack server did not answer $URL/health" >&2; exit 1; }
fi

start=$(date +%s)
seed=1
failed=0
for lr in 0.01 0.05 0.1; do
	for hidden in 8 32; do
		# A failed run (it is marked FAILED on the server) must not stop the demo.
		./bin/train --lr "$lr" --hidden "$hidden" --epochs "$EPOCHS" --seed "$seed" || failed=$((failed + 1))
		seed=$((seed + 1))
	done
done
echo "demo: 6 runs ($failed failed) in $(($(date +%s) - start))s, experiment \"$MLFLOW_EXPERIMENT_NAME\"" >&2

echo
echo "  mltrack UI: $URL"
echo "  (MLFLOW_TRACKING_URI=$URL)"
echo

if [[ -z "$server_pid" ]]; then
	exit 0 # the server is not ours to keep alive
fi
if [[ "${DEMO_NO_WAIT:-}" == 1 ]]; then
	exit 0
fi
echo "demo: serving until Ctrl-C" >&2
wait "$server_pid"
