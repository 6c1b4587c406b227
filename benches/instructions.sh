#!/usr/bin/env bash
# Instructions a request costs the service, counted by callgrind: unlike requests/s or CPU time on
# a shared 2-core box (±20% minute to minute), the count repeats within about 1% run to run, so it
# shows a change of a few percent. User space only: the kernel's TCP is not counted.
#
# Usage: bash benches/instructions.sh [BINARY] [PATH] [REQUESTS]
#   BINARY    default target/release/pivotforge
#   PATH      default pivot/business_hours (Kazoo's GET query is added); e.g. pivot/main_number_tod,
#             healthz
#   REQUESTS  default 2000, after 500 of warm-up that are not counted
# Loopback only (PORT, default 18340); needs valgrind (Debian's) and oha (cargo install oha).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/pivotforge} URLPATH=${2:-pivot/business_hours} N=${3:-2000}
PORT=${PORT:-18340}
for tool in valgrind callgrind_control; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y valgrind" >&2; exit 1; }
done
OHA=$(command -v oha || echo "$HOME/.cargo/bin/oha")
[ -x "$OHA" ] || { echo "oha is missing: cargo install oha --locked" >&2; exit 1; }
query='User-ID=8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f&To-Realm=acme.sip.example.com&To=2030&Request=2030&Language=en-us&From=1000&Direction=inbound&Caller-ID-Number=%2B14155550100&Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1&Api-Version=4.x&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b'
url="http://127.0.0.1:$PORT/$URLPATH?$query"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
: >"$data/pivotforge.toml"
valgrind --tool=callgrind --callgrind-out-file="$data/cg.out" "$BIN" serve \
  --config "$data/pivotforge.toml" --listen "127.0.0.1:$PORT" --flows callflows \
  --data-dir "$data" >"$data/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.3; done
"$OHA" -n 500 -c 4 --no-tui "$url" >/dev/null 2>&1
# Counted from here to the dump: the warm-up, start-up and shutdown stay out.
callgrind_control -z "$pid" >/dev/null 2>&1
"$OHA" -n "$N" -c 4 --no-tui "$url" >"$data/oha.txt" 2>&1
callgrind_control -d "$pid" >/dev/null 2>&1
kill "$pid"; wait "$pid" 2>/dev/null || true
grep -q "Success rate:.*100.00%" "$data/oha.txt" || { echo "some requests failed:" >&2; cat "$data/oha.txt" >&2; exit 1; }
total=$(awk '/^summary:/ {print $2; exit}' "$data/cg.out.1")
echo "$BIN /$URLPATH: $((total / N)) instructions a request ($N requests)"
