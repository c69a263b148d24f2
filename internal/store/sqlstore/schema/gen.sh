#!/usr/bin/env bash
# Regenerates the embedded DDL and the golden schema listings from what real
# MLflow created. Inputs: a SQLite database made by `mlflow` (MLFLOW_SQLITE_DB)
# and a `pg_dump --schema-only --no-owner` of a PostgreSQL database made by it
# (MLFLOW_PG_DUMP). Needs sqlite3, psql and a PostgreSQL server (PG_ADMIN_URI).
#
#   MLFLOW_SQLITE_DB=/work/scratch/schema/mlflow.db \
#   MLFLOW_PG_DUMP=/work/scratch/schema/pg-schema.sql \
#   PG_ADMIN_URI=postgresql://mltrack:mltrack@127.0.0.1:5432/postgres \
#   bash internal/store/sqlstore/schema/gen.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${MLFLOW_SQLITE_DB:?path to an mlflow-created sqlite db}"
: "${MLFLOW_PG_DUMP:?path to pg_dump of an mlflow-created db}"

# SQLite: replay sqlite_master in creation order; SQLite stores the statement
# text verbatim, so replaying it reproduces the catalogue byte for byte.
sqlite3 -batch -noheader "$MLFLOW_SQLITE_DB" \
  "SELECT sql || ';' FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid" \
  > "$here/sqlite.sql"
sqlite3 -batch -noheader -separator '|' "$MLFLOW_SQLITE_DB" \
  "SELECT type, name, tbl_name, coalesce(sql,'') FROM sqlite_master WHERE name <> 'sqlite_sequence' ORDER BY type, name" \
  > "$here/../testdata/sqlite_master.golden"

# PostgreSQL: the dump minus psql meta-commands, session SETs and comments.
grep -v -e '^\\' -e '^SET ' -e '^SELECT pg_catalog.set_config' -e '^--' "$MLFLOW_PG_DUMP" \
  | cat -s > "$here/postgres.sql"

if [[ -n "${PG_ADMIN_URI:-}" ]]; then
  db="sqlstore_gen_$$"
  psql -q "$PG_ADMIN_URI" -c "CREATE DATABASE $db"
  trap 'psql -q "$PG_ADMIN_URI" -c "DROP DATABASE IF EXISTS $db"' EXIT
  target="${PG_ADMIN_URI%/*}/$db"
  psql -q -v ON_ERROR_STOP=1 "$target" -f "$MLFLOW_PG_DUMP" >/dev/null
  psql -qAt "$target" -f "$here/pg_catalog_facts.sql" > "$here/../testdata/pg_catalog.golden"
fi
