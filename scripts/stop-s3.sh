#!/usr/bin/env bash
# Stops the server scripts/start-s3.sh started and removes its data.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pidfile="$ROOT/.tools/versitygw.pid"
[[ -f "$pidfile" ]] || exit 0
read -r pid data <"$pidfile"
kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
[[ -n "${data:-}" && -d "$data" ]] && rm -rf "$data"
rm -f "$pidfile"
