#!/usr/bin/env bash
# Starts a real S3-compatible server (versitygw, posix backend) on loopback
# for the artifact tests, installing it with `go install` on first use, and
# prints `export` lines for its endpoint and credentials. Idempotent per run:
# each call starts a fresh server on a fresh directory; scripts/stop-s3.sh
# stops it. Any failure exits non-zero (CI treats a missing S3 as a failure).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO="${GO:-$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)}"
VERSION=v1.8.0
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin/versitygw"

if ! [[ -x "$BIN" ]] || ! "$GO" version -m "$BIN" 2>/dev/null | grep -q "versitygw.*$VERSION"; then
  echo "start-s3: installing versitygw $VERSION (go install; a few minutes the first time)" >&2
  GOBIN="$TOOLS/bin" "$GO" install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2
fi

port=19500
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
data="$(mktemp -d "${TMPDIR:-/tmp}/mltrack-s3.XXXXXX")"
mkdir -p "$TOOLS"
ROOT_ACCESS_KEY=mltrack-test ROOT_SECRET_KEY=mltrack-test-secret \
  setsid "$BIN" --port "127.0.0.1:$port" posix "$data" >"$TOOLS/versitygw.log" 2>&1 &
echo "$! $data" >"$TOOLS/versitygw.pid"
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "export MLTRACK_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
    echo "export AWS_ACCESS_KEY_ID=mltrack-test AWS_SECRET_ACCESS_KEY=mltrack-test-secret AWS_REGION=us-east-1"
    exit 0
  fi
  sleep 0.1
done
echo "start-s3: versitygw did not listen on 127.0.0.1:$port; see $TOOLS/versitygw.log" >&2
exit 1
