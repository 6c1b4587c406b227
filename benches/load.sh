#!/usr/bin/env bash
# Load: pivotforge against what its users would write instead, in one run and one table.
#
# Builds the release binary, installs what is missing (oha with cargo; wrk, php-fpm and nginx from
# the distribution's packages), then benches/load.py starts each target in turn on 127.0.0.1 —
# pivotforge's /healthz, rule flow (main_number_tod, Kazoo's GET query), script flow
# (business_hours), a Class 5 second step (c5_ivr, distinct seeded calls) and a 1 MiB recording
# upload; a Node.js cluster and PHP-FPM behind nginx answering what main_number_tod answers
# (benches/peers/) — and drives each the same way: saturation (wrk, 64 connections) and fixed rates
# (oha -q 1000 and 5000 with latency correction). Unpinned: the load tools and the servers share
# the cores. Each cell is the mean of two runs; the run ends with the ratios the targets are about.
#
# Usage: bash benches/load.sh
#   DURATION=10 (s per run)  WARMUP=1  CONNECTIONS=64  THREADS=1 (wrk)  RATES="1000 5000"
#   REPEATS=2  TARGETS="healthz rule script class5 upload node php"  C5_CALLS=30000 (seeded
#   Class 5 calls, rounded down to d × 10^k)  PORT=27180 (Node +10, PHP +11)
# The defaults take about 10 minutes (plus the build).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v node >/dev/null || missing+=(nodejs)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
ls /usr/sbin/php-fpm* >/dev/null 2>&1 || command -v php-fpm >/dev/null || missing+=(php-fpm)
command -v php >/dev/null || missing+=(php-cli)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from the distribution's packages" >&2
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
oha_pid=
if ! command -v oha >/dev/null; then
  # oha compiles for minutes: build it while pivotforge builds.
  echo "installing oha (cargo install oha --locked)" >&2
  cargo install oha --locked --quiet &
  oha_pid=$!
fi
cargo build --release --quiet
[ -z "$oha_pid" ] || wait "$oha_pid"
exec python3 benches/load.py
