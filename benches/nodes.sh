#!/usr/bin/env bash
# Several nodes on Redis, in figures (issue 14 §5), in one run of one release build, all on
# 127.0.0.1, each wrk run bounded by DURATION:
#   (i)   a script flow doing one cxKV `incr` per call, on the embedded store and on Redis;
#   (ii)  a Class 5 step on each: the second step of distinct calls whose first steps were
#         answered just before (the journal read, the replay of step 0, the journal's write);
#   (iii) the rule flow `main_number_tod` on two nodes sharing the Redis against one node, the
#         same wrk load (CONNECTIONS in all) on one node, then split over both at once.
# Every figure is also given as a share of `/healthz` on the same server in the same run (the
# machine's throughput moves minute to minute). Also printed: CPU milliseconds per request spent
# by the service and by redis-server during each run (from /proc), which says where time goes.
#
# It starts its own redis-server (a free port, a temporary folder, no persistence) and its own
# nodes, and removes them at the end. Nothing is pinned to a core: on a 2-core machine, wrk, the
# nodes and redis-server share both.
#
# Usage: bash benches/nodes.sh        (DURATION=5s CONNECTIONS=32 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}

if ! command -v wrk >/dev/null; then
  echo "wrk is missing: installing Debian's package" >&2
  apt-get install -y wrk >/dev/null
fi
command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install -y redis-server" >&2; exit 1; }
cargo build --release --quiet

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ms() { # pid: user + system CPU time so far, in ms
  awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"
}
wait_up() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null && return; sleep 0.1; done; echo "node on $1 did not start" >&2; exit 1; }

# Flows: the shipped ones (for main_number_tod), a counter and a Class 5 menu.
mkdir -p "$work/flows"
cp -r callflows/. "$work/flows/"
cat >"$work/flows/bench_incr.js" <<'EOF'
import { incr } from 'cxKV';
export async function main() {
  const n = await incr('bench:hits');
  return { module: 'tts', data: { text: String(n) } };
}
EOF
cat >"$work/flows/bench_steps.js" <<'EOF'
const { incr } = require('cxKV');
async function main(data, ctx) {
  await ctx.answer();
  for (let i = 1; ; i += 1) {
    const { value } = await ctx.ivr(`Step ${i}: press a key`, 5, 1, 1);
    await ctx.tts(`You pressed ${value}`);
  }
}
EOF
# First steps of calls PREFIX1, PREFIX2, …; prints how many were sent.
cat >"$work/seed.lua" <<'EOF'
n = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) prefix = args[1] end
function request()
  n = n + 1
  return wrk.format("GET", "/pivot/bench_steps?Call-ID=" .. prefix .. n .. "&Caller-ID-Number=%2B14155550100")
end
function done()
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("n") end
  io.write("seeded " .. total .. "\n")
end
EOF
# Second steps of calls PREFIX1 … PREFIX<limit>, each once; the thread stops at the last.
cat >"$work/step.lua" <<'EOF'
local k = 0
function init(args) prefix = args[1]; limit = tonumber(args[2]) end
function request()
  if k < limit then k = k + 1 end
  local body = "Call-ID=" .. prefix .. k .. "&Caller-ID-Number=%2B14155550100&Digits[pf_step0]=1"
  return wrk.format("POST", "/pivot/bench_steps?step=1",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end
function response() if k >= limit then wrk.thread:stop() end end
EOF

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
  --daemonize no >/dev/null 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

start_node() { # name store-url-or-empty → prints "port pid"
  local port
  port=$(free_port)
  mkdir -p "$work/$1"
  {
    printf "listen = '127.0.0.1:%s'\nflows_dir = '%s'\ndata_dir = '%s'\n" "$port" "$work/flows" "$work/$1"
    [ -n "$2" ] && printf "\n[store]\nurl = '%s'\n" "$2"
  } >"$work/$1.toml"
  PIVOTFORGE_LOG=warn ./target/release/pivotforge serve --config "$work/$1.toml" >"$work/$1.log" 2>&1 &
  echo "$port $!"
}
read -r emb_port emb_pid < <(start_node embedded "")
pids+=("$emb_pid")
read -r r1_port r1_pid < <(start_node redis1 "redis://127.0.0.1:$redis_port/0")
pids+=("$r1_pid")
read -r r2_port r2_pid < <(start_node redis2 "redis://127.0.0.1:$redis_port/0")
pids+=("$r2_pid")
for p in "$emb_port" "$r1_port" "$r2_port"; do wait_up "$p"; done

query='Call-ID=bench%40pbx&Caller-ID-Number=%2B14155550100&To=2030&Request=2030&From=1000&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b'

# run LABEL PORT NODE_PID PATH [SCRIPT ARGS…]: one wrk run; prints a line, leaves req/s in $rps
# and wrk's output in $last_out.
run() {
  local label=$1 port=$2 node=$3 path=$4 script=${5:-}
  shift $(($# < 5 ? $# : 5))
  local s0 r0 out n opts=()
  [ -n "$script" ] && opts=(-s "$script")
  s0=$(cpu_ms "$node") r0=$(cpu_ms "$redis_pid")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "${opts[@]}" "http://127.0.0.1:$port$path" -- "$@")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  local p99 bad svc red
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  svc=$(awk -v a="$s0" -v b="$(cpu_ms "$node")" -v n="$n" 'BEGIN {printf "%.2f", (b-a)/n}')
  red=$(awk -v a="$r0" -v b="$(cpu_ms "$redis_pid")" -v n="$n" 'BEGIN {printf "%.2f", (b-a)/n}')
  printf '%-40s %9s req/s  p99 %8s  CPU ms/req: service %s, redis %s%s\n' \
    "$label" "$rps" "$p99" "$svc" "$red" "${bad:+  non-2xx $bad}" >&2
  last_out=$out
}
# The calls surely seeded: the last CONNECTIONS requests may not have been answered.
calls() { echo $(($1 > 2 * CONNECTIONS ? $1 - CONNECTIONS : 1)); }
share() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f%%", 100*a/b}'; }

echo "wrk -t1 -c$CONNECTIONS -d$DURATION, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M') UTC" >&2

run "embedded: /healthz" "$emb_port" "$emb_pid" /healthz; emb_h=$rps
run "embedded: incr flow" "$emb_port" "$emb_pid" "/pivot/bench_incr?$query"; emb_i=$rps
run "embedded: Class 5 first steps (seeding)" "$emb_port" "$emb_pid" /pivot/bench_steps "$work/seed.lua" e; emb_0=$rps
seeded=$(awk '/^seeded/ {print $2}' <<<"$last_out")
run "embedded: Class 5 second steps" "$emb_port" "$emb_pid" /pivot/bench_steps "$work/step.lua" e "$(calls "$seeded")"; emb_1=$rps

run "redis: /healthz" "$r1_port" "$r1_pid" /healthz; red_h=$rps
run "redis: incr flow" "$r1_port" "$r1_pid" "/pivot/bench_incr?$query"; red_i=$rps
run "redis: Class 5 first steps (seeding)" "$r1_port" "$r1_pid" /pivot/bench_steps "$work/seed.lua" r; red_0=$rps
seeded=$(awk '/^seeded/ {print $2}' <<<"$last_out")
run "redis: Class 5 second steps" "$r1_port" "$r1_pid" /pivot/bench_steps "$work/step.lua" r "$(calls "$seeded")"; red_1=$rps

run "one node: main_number_tod" "$r1_port" "$r1_pid" "/pivot/main_number_tod?$query"; one=$rps
# The same connections split over the two nodes, both loaded at once.
half=$((CONNECTIONS / 2))
a_out=$(mktemp -p "$work") b_out=$(mktemp -p "$work")
wrk -t1 -c"$half" -d"$DURATION" "http://127.0.0.1:$r1_port/pivot/main_number_tod?$query" >"$a_out" &
wa=$!
wrk -t1 -c"$half" -d"$DURATION" "http://127.0.0.1:$r2_port/pivot/main_number_tod?$query" >"$b_out" &
wb=$!
wait "$wa" "$wb"
two=$(awk '/Requests\/sec/ {s += $2} END {print s}' "$a_out" "$b_out")
printf '%-40s %9s req/s  (%s + %s)\n' "two nodes: main_number_tod" "$two" \
  "$(awk '/Requests\/sec/ {print $2}' "$a_out")" "$(awk '/Requests\/sec/ {print $2}' "$b_out")" >&2

echo
echo "| | embedded store | Redis (same machine) |"
echo "|---|---|---|"
echo "| /healthz | $emb_h req/s | $red_h req/s |"
echo "| (i) one cxKV incr per call | $emb_i req/s ($(share "$emb_i" "$emb_h") of /healthz) | $red_i req/s ($(share "$red_i" "$red_h")) |"
echo "| Class 5 first step | $emb_0 req/s ($(share "$emb_0" "$emb_h")) | $red_0 req/s ($(share "$red_0" "$red_h")) |"
echo "| (ii) Class 5 second step | $emb_1 req/s ($(share "$emb_1" "$emb_h")) | $red_1 req/s ($(share "$red_1" "$red_h")) |"
echo "| (iii) main_number_tod, one node / two nodes | | $one / $two req/s ($(share "$one" "$red_h") / $(share "$two" "$red_h") of one node's /healthz) |"
