#!/bin/sh
# Writes the console's runtime config from the environment (run by the nginx image's entrypoint).
set -eu
mkdir -p /tmp/console-config
url="${API_URL:-}"
case "$url" in *'"'*|*'\'*) echo "API_URL must not contain quotes or backslashes" >&2; exit 1;; esac
printf '{"apiUrl": "%s"}\n' "$url" > /tmp/console-config/config.json
