#!/usr/bin/env bash
# /pivot latency while N stalled-body sockets are held open (issue 9 §1): each stalled socket
# sends a POST head announcing 60,000 body bytes and then only a few, as a slowloris client does.
# Reports the latency of sequential GET /pivot/main_number_tod requests with the sockets held,
# and without them for comparison; it asserts nothing.
#
# The service runs with a soft fd limit of 1,024 (as on a default install) to show that it raises
# its own limit; its body deadline is raised to 10 minutes so the sockets stay stalled during the
# measurement. Traffic stays on 127.0.0.1.
#
# Usage: bash benches/stalled.sh          (STALLED=1500 REQUESTS=500 PORT=18081 by default)
set -euo pipefail
cd "$(dirname "$0")/.."

STALLED=${STALLED:-1500}
REQUESTS=${REQUESTS:-500}
PORT=${PORT:-18081}

command -v python3 >/dev/null || { echo "python3 is needed to hold the sockets" >&2; exit 1; }
cargo build --release --quiet
data=$(mktemp -d)
printf 'workers = 1\n[limits]\nbody_timeout_ms = 600000\n' >"$data/pivotforge.toml"
prlimit --nofile=1024:"$(ulimit -Hn)" ./target/release/pivotforge serve --config "$data/pivotforge.toml" \
  --listen "127.0.0.1:$PORT" --flows callflows --data-dir "$data" >"$data/log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
# Log lines reach the file every 100 ms.
for _ in $(seq 50); do grep -q 'file-descriptor limit' "$data/log" && break; sleep 0.1; done
grep -oE 'file-descriptor limit [0-9]+ \(was [0-9]+\): at most [0-9]+ connections' "$data/log" || true

python3 - "$PORT" "$STALLED" "$REQUESTS" <<'PY'
import http.client, resource, socket, sys, time

port, stalled, requests = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
query = ("User-ID=8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f&To=2030&Request=2030&From=1000"
         "&Call-ID=abc123%4010.0.0.1&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b")

def probe(label):
    times = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(requests):
        t = time.perf_counter()
        conn.request("GET", "/pivot/main_number_tod?" + query)
        reply = conn.getresponse()
        reply.read()
        assert reply.status == 200, reply.status
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"{label}: {requests} sequential GET /pivot/main_number_tod: "
          f"p50 {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {times[-1]:.2f} ms")

probe("no stalled sockets")
held, head = [], (b"POST /pivot/main_number_tod HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 60000\r\n\r\nDigits=1")
for _ in range(stalled):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head)
    held.append(s)
# Connections are accepted in order: once a new one is answered, every stalled one is held.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("GET", "/healthz"); c.getresponse().read(); c.close()
probe(f"{len(held)} stalled sockets held")
PY
