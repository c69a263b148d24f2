#!/usr/bin/env bash
# Creates .venv at the repo root with the real MLflow server/client (the oracle
# for the differential tests) and pytest. Idempotent: a stamp file records a hash
# of this script and tests/python/requirements.txt; when it matches, nothing runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
REQ="$ROOT/tests/python/requirements.txt"
STAMP="$VENV/.mltrack-setup-stamp"

# The oracle version, and the release whose dependency set we borrow (see below).
MLFLOW_VERSION=3.18.0
MLFLOW_DEPS_VERSION=3.17.2

want="$(cat "${BASH_SOURCE[0]}" "$REQ" | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
	echo "setup-venv: $VENV is up to date"
	exit 0
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' ||
	{ echo "setup-venv: need Python >= 3.10 ($PYTHON)" >&2; exit 1; }

rm -f "$STAMP"
if [[ ! -x "$VENV/bin/python" ]]; then
	# Debian's own python3 ships venv/ensurepip in a separate package.
	if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null && command -v apt-get >/dev/null; then
		pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${pyver}-venv" ||
			{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "python${pyver}-venv"; }
	fi
	"$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# Why three steps: PyPI serves mlflow==$MLFLOW_VERSION but not the
# mlflow-skinny/mlflow-tracing of the same version that it pins, so resolving
# it directly fails. The mlflow wheel contains the whole `mlflow` package
# (skinny and tracing are subsets of it), so we install the previous release to
# get a matching dependency set, remove it and its split-out parts, and put
# $MLFLOW_VERSION on top without dependency resolution.
"${PIP[@]}" install "mlflow==$MLFLOW_DEPS_VERSION" -r "$REQ"
"${PIP[@]}" uninstall -y mlflow mlflow-skinny mlflow-tracing
"${PIP[@]}" install --no-deps "mlflow==$MLFLOW_VERSION"

"$VENV/bin/python" - "$MLFLOW_VERSION" <<'PY'
import sys
import mlflow, mlflow.server, pytest, requests, psycopg  # noqa: F401  (import check)
assert mlflow.__version__ == sys.argv[1], mlflow.__version__
print("setup-venv: mlflow", mlflow.__version__, "pytest", pytest.__version__)
PY
"$VENV/bin/mlflow" --version >/dev/null

echo "$want" >"$STAMP"
