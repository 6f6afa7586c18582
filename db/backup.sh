#!/usr/bin/env bash
# Back up the escrowgrid database with pg_dump's custom format, into a timestamped file.
#   db/backup.sh [DIRECTORY]        (default: $BACKUP_DIR, else the current folder)
# Connection: DATABASE_URL when set, else libpq's PG* variables (PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGDATABASE). PG_BIN picks the folder of pg_dump (it must be at least as new as
# the server). Prints the path of the finished file; a failed dump leaves no file behind.
set -euo pipefail

dir="${1:-${BACKUP_DIR:-.}}"
pg_dump="${PG_BIN:+$PG_BIN/}pg_dump"
mkdir -p "$dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
file="$dir/escrowgrid-$stamp.dump"
partial="$file.partial"
trap 'rm -f "$partial"' EXIT

args=(--format=custom --no-owner --no-privileges --file="$partial")
if [ -n "${DATABASE_URL:-}" ]; then
  args+=(--dbname="$DATABASE_URL")
fi
"$pg_dump" "${args[@]}"
mv "$partial" "$file"
echo "$file"
