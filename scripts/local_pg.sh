#!/usr/bin/env bash
# The local PostgreSQL for the reference cloud receiver, used by the tests (scripts/test.sh) and
# the demo store (scripts/demo.sh). Does nothing when PostgreSQL is not installed.
set -euo pipefail
# Start the local cluster if it is installed but down.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
  if [ -n "$ver" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
    for _ in $(seq 20); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 0.5; done
  fi
fi
# The tests and the demo's cloud connect as postgres without a password (cloud/harness.py,
# edge/demo/cloud.py). Debian's fresh cluster asks
# for one over TCP (scram-sha-256), so trust loopback in that cluster's pg_hba.conf and reload.
# Only a local Debian cluster on 5432 is touched, only when that connection fails; run twice, same file.
if command -v pg_lsclusters >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 \
  && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null \
  && ! PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1; then
  read -r ver name _ < <(pg_lsclusters -h | awk '$3 == 5432 && $4 == "online"' | head -1) || true
  hba="/etc/postgresql/${ver:-none}/${name:-none}/pg_hba.conf"
  mark="# retail-edge scripts/local_pg.sh: the tests connect from loopback without a password"
  if [ -w "$hba" ] && grep -qxF "$mark" "$hba"; then
    echo "local_pg.sh: $hba already trusts loopback, yet postgres cannot connect from 127.0.0.1" >&2
  elif [ -w "$hba" ]; then
    sed -i "1i $mark\\nhost all all 127.0.0.1/32 trust\\nhost all all ::1/128 trust" "$hba"
    echo "local_pg.sh: added 'host all all 127.0.0.1/32 trust' and '::1/128 trust' at the top of $hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
    echo "local_pg.sh: reloaded PostgreSQL $ver/$name so the tests can connect as postgres from 127.0.0.1 without a password"
  else
    echo "local_pg.sh: cannot connect to PostgreSQL on 127.0.0.1 as postgres without a password, and $hba" \
      "is not writable here; trust 127.0.0.1/32 and ::1/128 for the tests (see cloud/harness.py)" >&2
  fi
fi

