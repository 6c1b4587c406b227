#!/usr/bin/env bash
# Fuzzes the running service against its own OpenAPI description (GET /openapi.json) with
# schemathesis: builds the binary, starts it on a free loopback port with a throw-away data folder,
# the shipped flows and admin credentials (so the protected routes are exercised, not just
# refused), runs schemathesis within a time budget, stops the server, and exits non-zero on any
# finding. The checks: no 5xx the description does not declare for that route, every reply's
# status, content type and body as described.
#
#   bash scripts/schemathesis.sh            # debug build, 150 s budget
#   SCHEMATHESIS_SECONDS=60 SCHEMATHESIS_PROFILE=release bash scripts/schemathesis.sh
#
# schemathesis (pinned below) is installed from PyPI into target/schemathesis-venv when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
profile="${SCHEMATHESIS_PROFILE:-debug}"
# The fuzzing's budget; loading the description and the last requests add up to half a minute,
# and a hard stop at 170 s keeps the whole run under 3 minutes.
budget="${SCHEMATHESIS_SECONDS:-120}"
venv=target/schemathesis-venv

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $version" ]; then
  echo "schemathesis.sh: installing schemathesis $version into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

if [ "$profile" = release ]; then
  cargo build --release --quiet
else
  cargo build --quiet
fi
binary="target/$profile/pivotforge"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

user=fuzz
password="fuzz-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$work/pivotforge.toml" <<EOF
[auth]
admin_user = "$user"
admin_password = "$password"
EOF

# A free port: the kernel picks one, and the server binds it right after.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$binary" serve --config "$work/pivotforge.toml" --listen "127.0.0.1:$port" \
  --flows callflows --data-dir "$work/data" --public-url "$base" \
  >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; echo "schemathesis.sh: the server did not start" >&2; exit 1; }
  sleep 0.1
done

# The shipped flows' names, for scripts/schemathesis.toml's dictionaries (libFuzzer format).
mkdir -p target/schemathesis
for f in callflows/*.toml callflows/*.js; do
  case "$f" in *.settings.toml) continue ;; esac
  name="$(basename "$f")"
  echo "\"${name%.*}\""
done >target/schemathesis/flows.dict
for f in callflows/*.js; do name="$(basename "$f")"; echo "\"${name%.js}\""; done \
  >target/schemathesis/scripts.dict

# One recording to read and download (uploads themselves are not fuzzed).
PIVOTFORGE_FUZZ_RECORDING="$(head -c 4096 /dev/urandom | curl -sf -X PUT --data-binary @- \
  -H 'Content-Type: audio/mpeg' "$base/recordings/call_recording_fuzz.mp3?call_id=fuzz" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
export PIVOTFORGE_FUZZ_RECORDING

# What is left out of the fuzzing (uploads), and which 5xx are declared answers rather than
# findings, is in scripts/schemathesis.toml, each with its reason.
started=$SECONDS
status=0
timeout 170 "$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --auth "$user:$password" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-time "$budget" --max-examples 40 --workers 1 --request-timeout 10 \
  --seed "${SCHEMATHESIS_SEED:-1}" \
  --no-color --suppress-health-check all \
  || status=$?
echo "schemathesis.sh: fuzzing took $((SECONDS - started)) s" >&2
if [ "$status" -ne 0 ]; then
  echo "schemathesis.sh: findings above; the server's log: $work/server.log (last lines below)" >&2
  tail -n 20 "$work/server.log" >&2
fi
exit "$status"
