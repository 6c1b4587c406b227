#!/usr/bin/env bash
# Two builds of pivotforge side by side: interleaved pairs on the rule flow, each run on a freshly
# started server with a fresh data folder (wrk -t1 -c64, DURATION s of main_number_tod with
# Kazoo's GET query, then 3 s of /healthz as the same run's reference), printing requests/s, p99,
# the slowest reply and the steps the exchange log could not store. Loopback only, unpinned.
#
# Usage: bash benches/ab.sh BINARY_A BINARY_B      (PAIRS=6 DURATION=10 PORT=18150
#        FLOW=main_number_tod: another flow of callflows/, e.g. business_hours, in its place)
# e.g. keep a copy of target/release/pivotforge before a change, build, and compare the two.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash benches/ab.sh BINARY_A BINARY_B" >&2; exit 2; }
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-6} DURATION=${DURATION:-10} PORT=${PORT:-18150} FLOW=${FLOW:-main_number_tod}
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
query='User-ID=8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f&To-Realm=acme.sip.example.com&To=2030&Request=2030&Language=en-us&From=1000&Direction=inbound&Caller-ID-Number=%2B14155550100&Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1&Api-Version=4.x&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b'
base="http://127.0.0.1:$PORT"
for i in $(seq "$PAIRS"); do
  for bin in "$1" "$2"; do
    data=$(mktemp -d)
    : >"$data/pivotforge.toml"
    "$bin" serve --config "$data/pivotforge.toml" --listen "127.0.0.1:$PORT" --flows callflows \
      --data-dir "$data" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
    wrk -t1 -c64 -d1s "$base/pivot/$FLOW?$query" >/dev/null
    out=$(wrk -t1 -c64 -d"${DURATION}s" --latency "$base/pivot/$FLOW?$query")
    health=$(wrk -t1 -c64 -d3s "$base/healthz" | awk '/Requests\/sec/ {print $2}')
    dropped=$(curl -s "$base/metrics" | awk '/^pivotforge_calls_not_stored_total/ {print $2}')
    printf '%d %-28s %s %10s req/s  p99 %9s  slowest %9s  /healthz %10s req/s  not stored %s\n' \
      "$i" "$bin" "$FLOW" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
      "$(awk '$1 == "99%" {print $2}' <<<"$out")" "$(awk '/Latency/ {print $4}' <<<"$out")" \
      "$health" "$dropped"
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$data"
  done
done
