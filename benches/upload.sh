#!/usr/bin/env bash
# Upload throughput: one SIZE_MB file (1 GiB by default) PUT to /recordings by curl, next to a
# plain disk copy of the same file to the same disk (dd with fsync, and cp + sync), in one run
# against one release build; and the service's peak memory (VmHWM) while it received the file.
#
# The upload is what Kazoo does: a raw PUT of the whole file. The service streams it to a
# temporary file, hashes it (SHA-256), fsyncs, renames it into place and fsyncs the folder, so
# the fair comparison is a copy that also ends on disk: `dd conv=fsync` and `cp` followed by
# `sync`. Every copy reads the same source, which sits in the page cache after it is made.
# Traffic stays on 127.0.0.1.
#
# Usage: bash benches/upload.sh        (SIZE_MB=1024 RUNS=3 PORT=18081; WORK=dir for the files)
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
PORT=${PORT:-18081}
command -v curl >/dev/null || { echo "curl is not installed: apt-get install -y curl" >&2; exit 1; }
cargo build --release --quiet

work=$(mktemp -d "${WORK:-/tmp}/pf-upload.XXXXXX")
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/data" "$work/copies"
printf '[recordings]\nmax_bytes = %d\n' $((SIZE_MB * 1024 * 1024)) >"$work/pivotforge.toml"
PIVOTFORGE_LOG=${PIVOTFORGE_LOG:-info} ./target/release/pivotforge serve --config "$work/pivotforge.toml" \
  --listen "127.0.0.1:$PORT" --flows callflows --data-dir "$work/data" >"$work/service.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

src="$work/source.mp3"
# An MP3 frame header, then random bytes: incompressible, and it passes the header check.
{ printf '\xff\xfb\x90\x64'; head -c $((SIZE_MB * 1024 * 1024 - 4)) /dev/urandom; } >"$src"
expected=$(sha256sum "$src" | cut -d' ' -f1)
hwm() { awk '/VmHWM/ {print $2}' "/proc/$server/status"; }   # kB
idle_kb=$(hwm)

seconds() { # command… → wall seconds
  local start end
  sync  # each measurement starts with nothing left to write back from the one before
  start=$(date +%s.%N); "$@"; end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", e - s}'
}
best() { sort -n | head -1; }
upload_once() {
  local reply
  reply=$(curl -sS -T "$src" -H 'Content-Type: audio/mpeg' \
    "http://127.0.0.1:$PORT/recordings/call_recording_bench%40host.mp3?call_id=bench%40host&account_id=bench")
  grep -q "\"sha256\":\"$expected\"" <<<"$reply" || { echo "upload failed or corrupt: $reply" >&2; exit 1; }
}
dd_once() { dd if="$src" of="$work/copies/dd.mp3" bs=1M conv=fsync status=none; rm -f "$work/copies/dd.mp3"; }
cp_once() { cp "$src" "$work/copies/cp.mp3" && sync "$work/copies/cp.mp3"; rm -f "$work/copies/cp.mp3"; }

dd_s=() cp_s=() up_s=()
for _ in $(seq "$RUNS"); do
  dd_s+=("$(seconds dd_once)")
  cp_s+=("$(seconds cp_once)")
  up_s+=("$(seconds upload_once)")
done
peak_kb=$(hwm)
dd_best=$(printf '%s\n' "${dd_s[@]}" | best)
cp_best=$(printf '%s\n' "${cp_s[@]}" | best)
up_best=$(printf '%s\n' "${up_s[@]}" | best)

echo "$SIZE_MB MiB, $RUNS runs each (best shown), $(nproc) cores, $(date -u +%F)"
awk -v mb="$SIZE_MB" -v d="$dd_best" -v c="$cp_best" -v u="$up_best" 'BEGIN {
  printf "dd conv=fsync        %7.2f s  %7.0f MiB/s\n", d, mb / d
  printf "cp + sync            %7.2f s  %7.0f MiB/s\n", c, mb / c
  printf "PUT /recordings      %7.2f s  %7.0f MiB/s   (%.0f%% of dd, %.0f%% of cp + sync)\n", u, mb / u, 100 * d / u, 100 * c / u }'
awk -v i="$idle_kb" -v p="$peak_kb" 'BEGIN {
  printf "service peak memory (VmHWM): %.1f MiB (idle before the uploads: %.1f MiB)\n", p / 1024, i / 1024 }'
echo "all runs (s): dd ${dd_s[*]} | cp ${cp_s[*]} | upload ${up_s[*]}"
