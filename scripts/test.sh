#!/usr/bin/env bash
# The test command: installs what the tests need beyond a Rust toolchain when it is missing —
# Debian's Chromium, which the web console's browser test (tests/ui_browser.rs) drives, and
# Debian's redis-server, which the Redis backend's tests start on ports of their own — then
# plays the shipped flows' scenarios (`pivotforge test`, callflows/tests/), runs the whole test
# suite and (with no arguments) scripts/schemathesis.sh. Extra arguments go to `cargo test`
# alone, e.g.
# `bash scripts/test.sh --test integration ui_browser::`.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
missing=()
chromium="${PIVOTFORGE_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "test.sh: $chromium is missing; installing Debian's chromium for the browser test" >&2
  missing+=(chromium)
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "test.sh: redis-server is missing; installing Debian's for the Redis backend's tests" >&2
  missing+=(redis-server)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# The flow tests, with the debug binary the integration tests use anyway. Each simulated call has
# a fresh scratch store whose commits fsync: on tmpfs, when there is one, they cost nothing.
scratch="${TMPDIR:-/tmp}"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch=/dev/shm; fi
TMPDIR="$scratch" cargo run --quiet --bin pivotforge -- test --flows callflows

# The whole suite (no arguments, as CI runs it) includes schemathesis against the running
# service (about 2.5 minutes; PIVOTFORGE_SKIP_SCHEMATHESIS=1 leaves it out). It runs first, so
# that cargo's summary closes the output; a finding still fails the command.
fuzzed=0
if [ "$#" -eq 0 ] && [ -z "${PIVOTFORGE_SKIP_SCHEMATHESIS:-}" ]; then
  bash scripts/schemathesis.sh || fuzzed=$?
fi
cargo test "$@"
if [ "$fuzzed" -ne 0 ]; then
  echo "test.sh: scripts/schemathesis.sh failed (exit $fuzzed): see its findings above" >&2
  exit "$fuzzed"
fi
