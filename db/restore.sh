#!/usr/bin/env bash
# Restore a backup made by db/backup.sh into an empty database.
#   db/restore.sh [--force] FILE
# Connection: DATABASE_URL when set, else libpq's PG* variables. PG_BIN picks the folder of
# pg_restore and psql. A database that already holds tables is refused unless --force, which
# drops what the backup holds before restoring it (the event table's triggers refuse UPDATE,
# DELETE and TRUNCATE, not DROP). All or nothing: one transaction.
set -euo pipefail

usage() { echo "usage: db/restore.sh [--force] FILE" >&2; exit 2; }
force=0
file=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) echo "db/restore.sh: unknown option $arg" >&2; usage ;;
    *) [ -z "$file" ] || usage; file="$arg" ;;
  esac
done
[ -n "$file" ] || usage
[ -r "$file" ] || { echo "db/restore.sh: cannot read $file" >&2; exit 2; }

pg_restore="${PG_BIN:+$PG_BIN/}pg_restore"
psql="${PG_BIN:+$PG_BIN/}psql"
conn=()
target=()  # pg_restore without --dbname would print SQL instead of restoring
if [ -n "${DATABASE_URL:-}" ]; then
  conn=(--dbname="$DATABASE_URL")
  target=("${conn[@]}")
else
  target=(--dbname="${PGDATABASE:-${PGUSER:-$(id -un)}}")
fi

tables="$("$psql" "${conn[@]}" --no-psqlrc --tuples-only --no-align --set=ON_ERROR_STOP=1 \
  --command="SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
               AND n.nspname NOT LIKE 'pg_toast%'")"
args=(--no-owner --no-privileges --single-transaction --exit-on-error)
if [ "$tables" != "0" ]; then
  if [ "$force" -ne 1 ]; then
    echo "db/restore.sh: the database already holds $tables table(s); refusing to restore" \
      "over them (restore into an empty database, or pass --force to replace them)" >&2
    exit 3
  fi
  args+=(--clean --if-exists)
fi
"$pg_restore" "${args[@]}" "${target[@]}" "$file"
echo "db/restore.sh: restored $file"
