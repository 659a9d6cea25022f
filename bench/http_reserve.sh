#!/usr/bin/env bash
# HTTP load on one hot SKU: `stockcast serve` on loopback, wrk with 256 connections posting
# reservations (bench/reserve.lua), then the stock row is read back to check no oversell.
#
#   bench/http_reserve.sh sqlite            # scratch SQLite file under target/bench-http
#   bench/http_reserve.sh postgres          # scratch database stockcast_bench_http on 127.0.0.1
#
# Needs wrk (Debian: apt-get install wrk) and a release build (cargo build --release).
set -euo pipefail
backend="${1:-sqlite}"
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${STOCKCAST_EXE:-${CARGO_TARGET_DIR:-$root/target}/release/stockcast}"
work="$root/target/bench-http"
port="${PORT:-18080}"
duration="${DURATION:-10s}"
rm -rf "$work" && mkdir -p "$work/data"
printf 'warehouse,region\nW1,West\n' > "$work/data/warehouses.csv"
printf 'sku,category\nHOT-0000,sofas\n' > "$work/data/products.csv"
case "$backend" in
  sqlite) export STOCKCAST_DATABASE_URL="sqlite://$work/stockcast.db" ;;
  postgres)
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS stockcast_bench_http" \
      -c "CREATE DATABASE stockcast_bench_http"
    export STOCKCAST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/stockcast_bench_http" ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac
"$exe" --quiet ingest --data "$work/data"
admin="$("$exe" keys create --role admin | tail -1)"
service="$("$exe" keys create --role service | tail -1)"
"$exe" serve --listen "127.0.0.1:$port" --rate-limit-per-second 1000000 \
  --rate-limit-burst 1000000 > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done
body="$(python3 -c 'import json; print(json.dumps([{"sku": "HOT-0000", "warehouse": "W1", "kind": "receipt", "qty": 1000000, "reason": "bench"}] * 50))')"
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' "127.0.0.1:$port/v1/stock/adjustments" -d "$body"
KEY="$service" SKU=HOT-0000 wrk -t2 -c256 -d"$duration" --latency \
  -s "$root/bench/reserve.lua" "http://127.0.0.1:$port"
echo "stock after the run:"
curl -sf -H "Authorization: Bearer $service" "127.0.0.1:$port/v1/stock?sku=HOT-0000"
echo
