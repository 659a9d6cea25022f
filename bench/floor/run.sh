#!/usr/bin/env bash
# The databases' own floor for the writes one hold needs, with no stockcast code in the way:
# what bounds `stockcast bench reserve` on this machine. Each line is holds/s. The bench itself
# measures the "schema as migrated" line in the same invocation (src/bench/floor.rs); this is
# the wider study of other layouts.
#
#   bench/floor/run.sh sqlite      # C over SQLite (needs gcc; see below for which SQLite)
#   bench/floor/run.sh postgres    # pgbench on 127.0.0.1 (scratch databases stockcast_floor_*)
#
# SQLite: the schema as migrated (no idempotency-key index, one ledger row per batch for its
# holds on the row), then the layout before it (a unique key index and a ledger row per hold),
# that without the key index, then a leaner layout (integer rowid, no id index, ledger WITHOUT
# ROWID), at the bench's batch of 256 holds. The checkpoint column is wal_autocheckpoint in
# pages; 0 never checkpoints, the best case.
# PostgreSQL: 256 holds per transaction generated in SQL (no parameters on the wire),
# asynchronous commit. First the schema as migrated (ids and keys compared bytewise, one ledger
# row per batch) with the stock row locked first, from 1 and 4 clients; then the layout before
# it with the stock row locked first (as the core does, so batches of several processes queue
# in one order) and, as a bound, locked last by 4 concurrent batches; in a database of the
# cluster's default collation and in one of LOCALE 'C'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${SECONDS_PER_RUN:-10}"
case "${1:-}" in
  sqlite)
    exe="${TMPDIR:-/tmp}/stockcast_sqlite_floor"
    # The SQLite stockcast runs: libsqlite3-sys's bundled amalgamation at the version
    # Cargo.lock pins, when Cargo has fetched it; the system's libsqlite3 otherwise.
    version="$(grep -A1 '^name = "libsqlite3-sys"' "$here/../../Cargo.lock" | sed -n 's/^version = "\(.*\)"/\1/p')"
    bundled="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"libsqlite3-sys-$version"/sqlite3 2>/dev/null | head -1)"
    if [ -n "$bundled" ]; then
      gcc -O2 -Wall -DSQLITE_THREADSAFE=1 -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -I"$bundled" \
        -o "$exe" "$here/sqlite_floor.c" "$bundled/sqlite3.c" -lpthread -ldl -lm
    else
      gcc -O2 -Wall -o "$exe" "$here/sqlite_floor.c" -lsqlite3
    fi
    for checkpoint in 1000 0; do
      for mode in migrated full nokey lean lean_nokey; do "$exe" "$mode" 256 "$checkpoint"; done
    done
    RANDOM_KEYS=1 "$exe" full 256 0
    ;;
  postgres)
    psql() { PGOPTIONS="-c client_min_messages=warning" command psql -q -h 127.0.0.1 -U postgres "$@"; }
    run() {
      local database="$1" script="$2" clients="$3" tps
      tps="$(pgbench -h 127.0.0.1 -U postgres -n -f "$here/$script" -c "$clients" -j "$clients" \
        -T "$seconds" "$database" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')"
      awk -v d="$database" -v s="$script" -v c="$clients" -v t="$tps" \
        'BEGIN { printf "%s %s clients=%d %.0f holds/s (%.1f batches/s of 256)\n", d, s, c, t * 256, t }'
    }
    # The cluster's default collation (C.UTF-8 here, what `createdb` gives), then LOCALE 'C',
    # whose text comparisons are plain memcmp.
    database=stockcast_floor_migrated
    psql -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
    psql -d "$database" -f "$here/pg_schema_migrated.sql"
    run "$database" pg_batch_migrated.sql 1
    run "$database" pg_batch_migrated.sql 4
    psql -c "DROP DATABASE $database"
    for locale in default C; do
      database="stockcast_floor_$(echo "$locale" | tr A-Z a-z)"
      create="CREATE DATABASE $database"
      [ "$locale" = C ] && create="$create TEMPLATE template0 LOCALE 'C'"
      psql -c "DROP DATABASE IF EXISTS $database" -c "$create"
      psql -d "$database" -f "$here/pg_schema.sql"
      run "$database" pg_batch_lock_first.sql 1
      run "$database" pg_batch_lock_first.sql 4
      run "$database" pg_batch_lock_last.sql 4
      psql -c "DROP DATABASE $database"
    done
    ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac
