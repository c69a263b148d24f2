#!/usr/bin/env bash
# Starts the local PostgreSQL 15 cluster used by the Go store tests and the
# Python differential tests, and makes sure the role mltrack/mltrack exists.
# Idempotent. Prints the connection URI on stdout (everything else to stderr).
#
# Needs root (apt-get, pg_ctlcluster, su postgres). Outside CI a machine that
# cannot provide PostgreSQL only gets a warning and exit 0, so `make test` still
# runs the SQLite half; with CI=true every failure is fatal.
set -euo pipefail

PG_VERSION="${PG_VERSION:-15}"
PG_CLUSTER="${PG_CLUSTER:-main}"
PG_PORT="${PG_PORT:-5432}"
ROLE=mltrack
URI="postgresql://mltrack:mltrack@127.0.0.1:${PG_PORT}/postgres"

log() { echo "start-postgres: $*" >&2; }
fail() {
	log "$*"
	if [[ "${CI:-}" == "true" ]]; then exit 1; fi
	log "not in CI: continuing without PostgreSQL (PostgreSQL tests will skip)"
	exit 0
}

if ! command -v pg_ctlcluster >/dev/null || [[ ! -x "/usr/lib/postgresql/$PG_VERSION/bin/postgres" ]]; then
	log "installing postgresql-$PG_VERSION via apt-get"
	export DEBIAN_FRONTEND=noninteractive
	{ apt-get update -q && apt-get install -y -q "postgresql-$PG_VERSION"; } >&2 ||
		fail "apt-get install postgresql-$PG_VERSION failed"
fi

if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; then
	log "creating cluster $PG_VERSION/$PG_CLUSTER"
	pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" >&2 || fail "pg_createcluster failed"
fi

if ! pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1==v && $2==c && $4=="online" {found=1} END {exit !found}'; then
	log "starting cluster $PG_VERSION/$PG_CLUSTER"
	pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start >&2 || fail "pg_ctlcluster start failed"
fi

ready=0
for _ in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then ready=1; break; fi
	sleep 0.5
done
[[ $ready == 1 ]] || fail "PostgreSQL did not become ready on 127.0.0.1:$PG_PORT within 30s"

# Role creation runs as the postgres OS user over the local socket (peer auth);
# the name and password are constants, not user input.
psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt -p $PG_PORT $*"; }
if [[ "$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname='$ROLE'\"")" != "1" ]]; then
	log "creating role $ROLE"
	psql_admin "-c \"CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$ROLE'\"" >&2 || fail "CREATE ROLE failed"
fi

PGPASSWORD=mltrack psql -qAt "$URI" -c 'SELECT 1' >/dev/null ||
	fail "cannot log in as $ROLE over TCP (check pg_hba.conf allows md5/scram on 127.0.0.1)"

echo "$URI"
