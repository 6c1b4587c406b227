#!/usr/bin/env bash
# The test command: installs what the tests need beyond a Rust toolchain when it is missing —
# Debian's Chromium, which the web console's browser test (tests/ui_browser.rs) drives — then
# plays the shipped flows' scenarios (`pivotforge test`, callflows/tests/) and runs the whole test
# suite. Extra arguments go to `cargo test`, e.g.
# `bash scripts/test.sh --test integration ui_browser::`.
set -euo pipefail
cd "$(dirname "$0")/.."

chromium="${PIVOTFORGE_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "test.sh: $chromium is missing; installing Debian's chromium for the browser test" >&2
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi

# The flow tests, with the debug binary the integration tests use anyway. Each simulated call has
# a fresh scratch store whose commits fsync: on tmpfs, when there is one, they cost nothing.
scratch="${TMPDIR:-/tmp}"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then scratch=/dev/shm; fi
TMPDIR="$scratch" cargo run --quiet --bin pivotforge -- test --flows callflows

exec cargo test "$@"
