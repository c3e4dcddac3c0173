#!/usr/bin/env bash
# The README's second command: set everything up and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test

# PostgreSQL for the cloud receiver tests: start the local cluster if it is installed but down.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -n "$ver" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 20); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 0.5; done
  fi
fi
# The tests connect as postgres without a password (cloud/harness.py). Debian's fresh cluster asks
# for one over TCP (scram-sha-256), so trust loopback in that cluster's pg_hba.conf and reload.
# Only a local Debian cluster on 5432 is touched, only when that connection fails; run twice, same file.
if command -v pg_lsclusters >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 \
  && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
  && ! PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  read -r ver name _ < <(pg_lsclusters -h | awk '$3 == 5432 && $4 == "online"' | head -1) || true
  hba="/etc/postgresql/${ver:-none}/${name:-none}/pg_hba.conf"
  mark="# retail-edge scripts/test.sh: the tests connect from loopback without a password"
  if [ -w "$hba" ] && grep -qxF "$mark" "$hba"; then
    echo "test.sh: $hba already trusts loopback, yet postgres cannot connect from 127.0.0.1" >&2
  elif [ -w "$hba" ]; then
    sed -i "1i $mark\\nhost all all 127.0.0.1/32 trust\\nhost all all ::1/128 trust" "$hba"
    echo "test.sh: added 'host all all 127.0.0.1/32 trust' and '::1/128 trust' at the top of $hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
    echo "test.sh: reloaded PostgreSQL $ver/$name so the tests can connect as postgres from 127.0.0.1 without a password"
  else
    echo "test.sh: cannot connect to PostgreSQL on 127.0.0.1 as postgres without a password, and $hba" \
      "is not writable here; trust 127.0.0.1/32 and ::1/128 for the tests (see cloud/harness.py)" >&2
  fi
fi

mkdir -p test-artifacts
set +e
# Real brokers, databases, browsers and camera threads on a shared 2-core box: a test that fails
# is run once more and reported as RERUN in the summary; failing twice fails the run.
.venv/bin/python -m pytest -p no:cacheprovider -rfER --reruns 1 --reruns-delay 2 "$@"
code=$?
set -e
if [ $code -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $code
