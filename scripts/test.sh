#!/usr/bin/env bash
# The README's second command: set everything up and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test

# PostgreSQL for the cloud receiver tests (started, and loopback trusted, where needed).
bash scripts/local_pg.sh

mkdir -p test-artifacts
set +e
.venv/bin/python -m pytest -p no:cacheprovider -rfE "$@"
code=$?
set -e
if [ $code -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $code
