#!/usr/bin/env bash
# Load test: requests/s and p99 for /healthz, the rule flows /pivot/main_number_tod and
# /pivot/conference_areacode, and the script flow /pivot/business_hours, in one run against one
# release build of the service.
# Traffic stays on 127.0.0.1; each wrk run is bounded by DURATION.
#
# On a 2-core machine the load generator and the service would fight for the same cores and the
# figures would measure the scheduler; so by default wrk runs on core 0 and the service, with one
# HTTP worker, on core 1 (PIN=0 turns this off and uses every core for both).
#
# Usage: bash benches/load.sh            (DURATION=10s CONNECTIONS=64 THREADS=1 PIN=1 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PIN=${PIN:-1}
PORT=${PORT:-18080}

command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet
data=$(mktemp -d)
serve_cpu=() load_cpu=()
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  serve_cpu=(taskset -c 1) load_cpu=(taskset -c 0)
  printf 'workers = 1\n' >"$data/pivotforge.toml"
else
  : >"$data/pivotforge.toml"
fi
PIVOTFORGE_LOG=${PIVOTFORGE_LOG:-info} "${serve_cpu[@]}" ./target/release/pivotforge serve --config "$data/pivotforge.toml" \
  --listen "127.0.0.1:$PORT" --flows callflows --data-dir "$data" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

query='User-ID=8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f&To-Realm=acme.sip.example.com&To=2030&Request=2030&Language=en-us&From=1000&Direction=inbound&Caller-ID-Number=%2B14155550100&Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1&Api-Version=4.x&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b'

run() { # name path
  local out rps p99
  out=$("${load_cpu[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$PORT$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  printf '%-34s %12s req/s   p99 %8s   %s\n' "$1" "$rps" "$p99" "$errors"
  echo "$rps"
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores, pinned=${#serve_cpu[@]}, $(date -u +%F)"
health=$(run "/healthz" "/healthz" | tee /dev/stderr | tail -1)
tod=$(run "/pivot/main_number_tod" "/pivot/main_number_tod?$query" | tee /dev/stderr | tail -1)
area=$(run "/pivot/conference_areacode" "/pivot/conference_areacode?$query" | tee /dev/stderr | tail -1)
script=$(run "/pivot/business_hours (script)" "/pivot/business_hours?$query" | tee /dev/stderr | tail -1)
awk -v h="$health" -v t="$tod" -v a="$area" -v s="$script" 'BEGIN {
  printf "of /healthz throughput: main_number_tod %.0f%%, conference_areacode %.0f%%, business_hours (script) %.0f%%\n", 100*t/h, 100*a/h, 100*s/h }'
