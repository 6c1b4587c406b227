#!/usr/bin/env bash
# test262's built-ins/Date and built-ins/Math in plain QuickJS and in the sandbox, sloppy and
# strict. test262 is not part of this repository: pass the path of a checkout, e.g.
#   git clone --depth 1 https://github.com/tc39/test262 /tmp/test262
#   bash benches/test262/run.sh /tmp/test262        # add -v to list every difference
# Exits non-zero when a test passes in plain QuickJS but fails in the sandbox.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -d "$1/test/built-ins/Date" ] || [ ! -d "$1/harness" ]; then
  echo "usage: $0 PATH-OF-A-TEST262-CHECKOUT [-v]" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
exec cargo run --quiet --release --example test262 -- "$@"
