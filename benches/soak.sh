#!/usr/bin/env bash
# Soak and faults (issue 15 §4), one command, bounded, loopback only, against one release build.
#
# Soak: DURATION (10 minutes by default, after a warm-up) of mixed traffic — the rule flow
# main_number_tod with Kazoo's GET query, the script flow business_hours, the shipped Class 5 IVR
# walked step by step (first GET, then the POST its pivot names), BAD_SHARE (5%) of the pivot
# requests to two bench flows that run out of time or memory (their fallback must come back), and
# concurrent recording uploads of random bodies of varied size, each SHA-256 remembered. Every
# reply is checked. It prints throughput and RSS per interval (10 s, or 30 s for runs of 5 minutes
# or more), errors by kind, RSS after the warm-up and at the end (target: < 10% growth), and every
# acknowledged recording downloaded back and compared by SHA-256 (target: 0 lost, 0 corrupt).
#
# Faults: kill -9 of the service while uploads are in flight (some half sent), then between two
# steps of a Class 5 call and while a step is in flight (held in a fetch to the driver); each time
# it starts again on the same data dir, and the checks are: every acknowledged recording intact,
# no temporary file in the listing or the recordings folder, the call going on at its next step.
#
# The driver is benches/soak.py (Python's standard library: it checks every reply and kills and
# restarts the service, which wrk can't; see its docstring). It prints PASS/FAIL per check; the
# script exits 1 when one FAILs.
#
# Usage: bash benches/soak.sh [all|soak|faults]     (all by default: the soak, then the faults)
#   DURATION=10m CONNECTIONS=8 UPLOADERS=4 UPLOAD_MIN_KB=4 UPLOAD_MAX_KB=1024 UPLOAD_PAUSE=0.5
#   BAD_SHARE=0.05 BREAKER=off PORT=18090 WORK=/tmp KEEP=0 (KEEP=1 keeps the data dir and log)
#   EXTRA_CONFIG='[calls]\nretention_days = 0' adds lines to the service's config file (printf %b)
#   BIN=path runs that binary instead of building the release one (to try the script itself)
set -euo pipefail
cd "$(dirname "$0")/.."

PHASE=${1:-all}
DURATION=${DURATION:-10m}
PORT=${PORT:-18090}
HOLD_PORT=${HOLD_PORT:-$((PORT + 1))}
BREAKER=${BREAKER:-off}
case "$PHASE" in all | soak | faults) ;; *) echo "usage: bash benches/soak.sh [all|soak|faults]" >&2; exit 2 ;; esac
command -v python3 >/dev/null || { echo "python3 is needed for the driver: apt-get install -y python3" >&2; exit 2; }
if [ -n "${BIN:-}" ]; then bin=$(realpath "$BIN"); else cargo build --release --quiet; bin=$PWD/target/release/pivotforge; fi

work=$(mktemp -d "${WORK:-/tmp}/pf-soak.XXXXXX")
status=0
# A failed run keeps its data dir and the service's log, for what went wrong.
cleanup() { if [ "${KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
mkdir -p "$work/flows" "$work/data" "$work/expect" "$work/scratch"
cp -r callflows/. "$work/flows/"
cp benches/flows/soak_* "$work/flows/"
sed -i "s|@HOLD_URL@|http://127.0.0.1:$HOLD_PORT/hold|" "$work/flows/soak_c5.settings.toml"
{
  # Every hostile call runs to its limit (the runtime thrown away and rebuilt, what a soak must
  # see for leaks) instead of the breaker answering most of them at once; BREAKER=on keeps the
  # shipped trip_after.
  [ "$BREAKER" = on ] || printf '[scripts]\ntrip_after = 1000000\n'
  printf '%b\n' "${EXTRA_CONFIG:-}"
} >"$work/pivotforge.toml"

# The replies each flow may give, from the binary itself at instants that cover them: open
# (a Tuesday morning in New York), closed (a Saturday) and a holiday; the hostile flows' fallback.
expect=()
offline() { # name flow at
  "$bin" run "$2" --flows "$work/flows" --data-dir "$work/scratch" ${3:+--at "$3"} \
    >"$work/expect/$1.json" 2>/dev/null || true
  [ -s "$work/expect/$1.json" ] || { echo "pivotforge run $2 printed no tree" >&2; exit 1; }
}
for at in 2026-12-01T10:00:00-05:00 2026-12-05T10:00:00-05:00 2026-12-25T10:00:00-05:00; do
  offline "rule-$at" main_number_tod "$at" && expect+=(--expect "rule=$work/expect/rule-$at.json")
  offline "script-$at" business_hours "$at" && expect+=(--expect "script=$work/expect/script-$at.json")
done
offline timeout soak_timeout && expect+=(--expect "timeout=$work/expect/timeout.json")
offline memory soak_memory && expect+=(--expect "memory=$work/expect/memory.json")

echo "pivotforge soak ($PHASE): $(nproc) cores, $(date -u +%FT%TZ), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), breaker $BREAKER"
PYTHONDONTWRITEBYTECODE=1 PIVOTFORGE_LOG=${PIVOTFORGE_LOG:-info} python3 benches/soak.py --phase "$PHASE" --port "$PORT" \
  --hold-port "$HOLD_PORT" --recordings "$work/data/recordings" --log "$work/service.log" \
  --duration "$DURATION" --connections "${CONNECTIONS:-8}" --uploaders "${UPLOADERS:-4}" \
  --upload-min-kb "${UPLOAD_MIN_KB:-4}" --upload-max-kb "${UPLOAD_MAX_KB:-1024}" \
  --upload-pause "${UPLOAD_PAUSE:-0.5}" --bad-share "${BAD_SHARE:-0.05}" "${expect[@]}" -- \
  "$bin" serve --config "$work/pivotforge.toml" --listen "127.0.0.1:$PORT" --flows "$work/flows" \
  --data-dir "$work/data" || status=$?
exit "$status"
