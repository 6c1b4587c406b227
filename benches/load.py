#!/usr/bin/env python3
"""The load harness behind benches/load.sh: one run, one table.

Starts each target in turn on 127.0.0.1 (pivotforge's /healthz, rule flow, script flow, Class 5
second step and 1 MiB recording upload; the Node.js and PHP peers of the rule flow), drives each
with the same load — saturation with wrk, fixed rates with oha — and prints requests/s, p50, p99,
server CPU time per request, peak RSS and errors, the mean of REPEATS runs, then the ratios the
issue sets targets for. Python's standard library only; wrk, oha, node, php-fpm and nginx must be
installed (load.sh installs what is missing).

Every run gets a freshly started server and data folder, so CPU and memory belong to that run
only. Runs are interleaved (every target once, then every target again) so that a slow minute of
the machine hits all targets rather than one.
"""

import glob
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone
from http.client import HTTPConnection

from load_procs import Server, cpu_seconds, peak_rss_mib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PIVOTFORGE_BIN") or os.path.join(ROOT, "target", "release", "pivotforge")
PEERS = os.path.join(ROOT, "benches", "peers")


def env_seconds(name, default):
    """DURATION=10, 10s or 1m."""
    raw = os.environ.get(name, default).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m)?", raw)
    if not m:
        sys.exit(f"{name}={raw!r}: give seconds, like 10 or 10s or 1m")
    return float(m.group(1)) * (60 if m.group(2) == "m" else 1)


DURATION = env_seconds("DURATION", "10")
WARMUP = env_seconds("WARMUP", "1")
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
THREADS = int(os.environ.get("THREADS", "1"))
RATES = [int(r) for r in os.environ.get("RATES", "1000 5000").replace(",", " ").split()]
REPEATS = int(os.environ.get("REPEATS", "2"))
ALL_TARGETS = ["healthz", "rule", "script", "class5", "upload", "node", "php"]
TARGETS = os.environ.get("TARGETS", " ".join(ALL_TARGETS)).replace(",", " ").split()
C5_CALLS = int(os.environ.get("C5_CALLS", "30000"))
PORT = int(os.environ.get("PORT", "27180"))
LOG = os.environ.get("PIVOTFORGE_LOG", "info")
CORES = os.cpu_count() or 1

for t in TARGETS:
    if t not in ALL_TARGETS:
        sys.exit(f"TARGETS: unknown target {t!r}; choose among {' '.join(ALL_TARGETS)}")

# Kazoo's GET query for a call's first step (wire facts: /work/shared/reference/kazoo-pivot.md,
# section 1): the parameters pivot sends, form-encoded, keys unescaped.
QUERY = (
    "User-ID=8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f&To-Realm=acme.sip.example.com&To=2030&Request=2030"
    "&Language=en-us&From=1000&Direction=inbound&Caller-ID-Number=%2B14155550100"
    "&Caller-ID-Name=Alice+Smith&Call-ID=abc123%4010.0.0.1&Api-Version=4.x"
    "&Account-ID=3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b"
)
QUERY_NO_CALL = "&".join(p for p in QUERY.split("&") if not p.startswith("Call-ID="))
# The IVR's second step (callflows/c5_ivr.js): the caller pressed 1 into the collection the first
# step named (pf_step0), so the call bridges to extension 1002, this user.
C5_SALES_USER = "8f0c2b4d6e8a0c2e4f6a8b0d2c4e6f8a"
C5_BODY = QUERY_NO_CALL + "&Digits[pf_step0]=1"
FORM = "application/x-www-form-urlencoded"
UPLOAD_NAMES = "0123456789abcdef"  # 16 recordings, replaced in turn: the disk holds 16 MiB
UPLOAD_URL = "/recordings/call_recording_bench{n}%40host.mp3?call_id=bench{n}%40host&account_id=bench"


def c5_width(calls):
    """Seeded call ids are c5-<digits>; their count is d × 10^k so one regex draws them evenly."""
    k = len(str(calls)) - 1
    d = calls // 10**k
    return d * 10**k, k + 1, d, k


def c5_id(i, width):
    return f"c5-{i:0{width}d}%40bench"


# ----------------------------------------------------------------------------- targets


class Target:
    """What a target serves and the one request shape both load tools send it."""

    def __init__(self, key, label, method="GET", path="/", body=None, ctype=None):
        self.key, self.label, self.method, self.path = key, label, method, path
        self.body, self.ctype = body, ctype


TARGET_DEFS = {
    "healthz": Target("healthz", "pivotforge /healthz", path="/healthz"),
    "rule": Target("rule", "pivotforge rule main_number_tod", path="/pivot/main_number_tod?" + QUERY),
    "script": Target("script", "pivotforge script business_hours", path="/pivot/business_hours?" + QUERY),
    "class5": Target("class5", "pivotforge Class 5 c5_ivr step 2", "POST", "/pivot/c5_ivr?step=1", C5_BODY, FORM),
    "upload": Target("upload", "pivotforge PUT 1 MiB recording", "PUT", UPLOAD_URL, None, "audio/mpeg"),
    "node": Target("node", "Node.js cluster (rule peer)", path="/pivot/main_number_tod?" + QUERY),
    "php": Target("php", "PHP-FPM + nginx (rule peer)", path="/pivot/main_number_tod?" + QUERY),
}


class Bench:
    def __init__(self, work):
        self.work = work
        self.upload_file = os.path.join(work, "upload.mp3")
        with open(self.upload_file, "wb") as f:
            # An MP3 frame header, then random bytes: passes the format check, incompressible.
            f.write(b"\xff\xfb\x90\x64" + os.urandom(1024 * 1024 - 4))
        self.c5_template = None
        self.c5_calls, self.c5_digits, self.c5_lead, self.c5_rest = c5_width(C5_CALLS)
        self.runs = 0
        self.write_scripts()

    # --- servers

    def start(self, key, data=None, quiet=False):
        """A fresh server for target `key`, ready to answer; `data` seeds its data folder;
        `quiet` sends its output to /dev/null (see Server)."""
        self.runs += 1
        port = {"node": PORT + 10, "php": PORT + 11}.get(key, PORT)
        if not port_free(port):
            raise SystemExit(f"port {port} on 127.0.0.1 is taken by another process: "
                             f"choose other ports with PORT=N (uses N, N+10 and N+11)")
        run_dir = os.path.join(self.work, f"run{self.runs}-{key}")
        os.makedirs(run_dir)
        if key == "node":
            s = Server(key, PORT + 10, [["node", os.path.join(PEERS, "node", "server.js")]], run_dir,
                       ROOT, {"PORT": str(PORT + 10)}, quiet)
            s.wait_ready("/")
            return s
        if key == "php":
            s = Server(key, PORT + 11, self.php_commands(run_dir), run_dir, ROOT, quiet=quiet)
            s.wait_ready("/")
            return s
        data_dir = os.path.join(run_dir, "data")
        if data:
            shutil.copytree(data, data_dir)
            # On disk before the run: else the copy's writeback lands on the run's first fsync.
            for folder, _, files in os.walk(data_dir):
                for name in files:
                    fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                    os.fsync(fd)
                    os.close(fd)
        else:
            os.makedirs(data_dir)
        cfg = os.path.join(run_dir, "pivotforge.toml")
        open(cfg, "w").close()
        cmd = [BIN, "serve", "--config", cfg, "--listen", f"127.0.0.1:{PORT}",
               "--flows", os.path.join(ROOT, "callflows"), "--data-dir", data_dir]
        s = Server(key, PORT, [cmd], run_dir, ROOT, {"PIVOTFORGE_LOG": LOG}, quiet)
        s.wait_ready("/healthz")
        return s

    def php_commands(self, run_dir):
        """php-fpm (pm static, two children per core) behind nginx (a worker per core), as the
        current user, configs in the run's folder, the distribution's php.ini (opcache on)."""
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
        sock = os.path.join(run_dir, "php-fpm.sock")
        fpm_conf = os.path.join(run_dir, "php-fpm.conf")
        with open(fpm_conf, "w") as f:
            f.write(f"""[global]
pid = {run_dir}/php-fpm.pid
error_log = {run_dir}/php-fpm-error.log
daemonize = no
[bench]
user = {user}
group = {group}
listen = {sock}
pm = static
pm.max_children = {2 * CORES}
pm.max_requests = 0
""")
        nginx_conf = os.path.join(run_dir, "nginx.conf")
        user_line = f"user {user} {group};" if os.geteuid() == 0 else ""
        with open(nginx_conf, "w") as f:
            f.write(f"""{user_line}
worker_processes {CORES};
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {run_dir}/nginx-body;
    proxy_temp_path {run_dir}/nginx-proxy;
    fastcgi_temp_path {run_dir}/nginx-fastcgi;
    uwsgi_temp_path {run_dir}/nginx-uwsgi;
    scgi_temp_path {run_dir}/nginx-scgi;
    # wrk and oha keep their connections open; the default 1000 would make nginx reconnect them.
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{PORT + 11};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME {PEERS}/php/index.php;
            fastcgi_pass unix:{sock};
        }}
    }}
}}
""")
        fpm = shutil.which("php-fpm") or (sorted(glob.glob("/usr/sbin/php-fpm*")) or ["php-fpm"])[-1]
        fpm_cmd = [fpm, "--nodaemonize", "--fpm-config", fpm_conf]
        if os.geteuid() == 0:
            fpm_cmd.append("--allow-to-run-as-root")
        nginx_cmd = [shutil.which("nginx") or "/usr/sbin/nginx", "-p", run_dir, "-e",
                     f"{run_dir}/nginx-error.log", "-c", nginx_conf, "-g", "daemon off;"]
        return [fpm_cmd, nginx_cmd]

    # --- the Class 5 journals

    def seed_class5(self):
        """Runs the first step of C5_CALLS distinct calls once, into a data folder that each
        Class 5 run then starts from a copy of: every measured request is the second step of a
        call whose journal holds its first, never a step sent again (the retry path)."""
        s = self.start("class5-seed")
        n, done, failed = self.c5_calls, [0], []
        lock = threading.Lock()
        nxt = iter(range(n))
        started = time.time()

        def worker():
            conn = HTTPConnection("127.0.0.1", PORT, timeout=30)
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    break
                q = QUERY_NO_CALL + "&Call-ID=" + c5_id(i, self.c5_digits)
                conn.request("GET", "/pivot/c5_ivr?" + q)
                r = conn.getresponse()
                body = r.read()
                with lock:
                    if r.status != 200 or b"collect_dtmf" not in body:
                        failed.append((i, r.status, body[:200]))
                    done[0] += 1
            conn.close()

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s.stop()
        took = time.time() - started
        if failed:
            print(f"WARNING: {len(failed)} of {n} Class 5 first steps failed, e.g. {failed[0]}")
        print(f"seeded {n} Class 5 calls' first steps in {took:.1f} s ({n / took:.0f}/s)", flush=True)
        self.c5_template = os.path.join(s.workdir, "data")

    # --- load tools

    def write_scripts(self):
        """wrk Lua scripts: one shared `done` printing a JSON line, and the request generators."""
        done = r"""
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local bad, exhausted, first, last = 0, 0, nil, nil
  for _, t in ipairs(threads) do
    bad = bad + (t:get("bad") or 0)
    exhausted = exhausted + (t:get("exhausted") or 0)
    local a, b = t:get("started_us"), t:get("stopped_us")
    if a and (not first or a < first) then first = a end
    if b and (not last or b > last) then last = b end
  end
  -- wrk's own duration is the whole -d even when every thread stopped early.
  local duration = summary.duration
  if exhausted == #threads and first and last then duration = last - first end
  local e = summary.errors
  io.write(string.format(
    'WRKRESULT {"requests":%d,"duration_us":%d,"errors":%d,"status":%d,"bad":%d,"exhausted":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, duration, e.connect + e.read + e.write + e.timeout, e.status,
    bad, exhausted, latency:percentile(50), latency:percentile(99)))
end
"""
        self.lua = {}
        for t in TARGET_DEFS.values():
            self.lua[t.key] = os.path.join(self.work, f"{t.key}.lua")
            with open(self.lua[t.key], "w") as f:
                f.write(done)
                if t.key == "upload":
                    f.write(f"""
local names = "{UPLOAD_NAMES}"
local reqs, k = {{}}, 0
function init(args)
  local file = io.open("{self.upload_file}", "rb")
  local body = file:read("*a")
  file:close()
  for i = 1, #names do
    local n = names:sub(i, i)
    local path = string.gsub("{UPLOAD_URL}", "{{n}}", n)
    reqs[i] = wrk.format("PUT", path, {{["Content-Type"] = "audio/mpeg"}}, body)
  end
  k = tid or 0
end
function request()
  k = k + 1
  return reqs[k % #reqs + 1]
end
""")
                elif t.key == "class5":
                    f.write(f"""
-- Thread `tid` of `nthreads` sends the second steps of calls tid, tid + nthreads, …; when its
-- share of the seeded calls is used up it stops (a call sent twice would measure the retry
-- path), and `exhausted` says so in the result.
local body = "{C5_BODY}"
local headers = {{["Content-Type"] = "{FORM}"}}
-- A microsecond clock (LuaJIT's ffi), for the rate of a run that stopped early.
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_usec; }} pf_timeval;
int gettimeofday(pf_timeval *tv, void *tz);
]]
local tv = ffi.new("pf_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1e6 + tonumber(tv.tv_usec)
end
bad, exhausted = 0, 0
function init(args)
  calls, nthreads, width = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  k = tid
  started_us = now_us()
end
function request()
  if k >= calls then
    if exhausted == 0 then stopped_us = now_us() end
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  local id = string.format("c5-%0" .. width .. "d%%40bench", k)
  k = k + nthreads
  return wrk.format("POST", "/pivot/c5_ivr?step=1&Call-ID=" .. id, headers, body)
end
function response(status, headers, body)
  -- wrk counts statuses from 400 itself; a 200 that is not the bridge to sales is the fallback.
  if exhausted == 0 and status == 200 and not string.find(body, "{C5_SALES_USER}", 1, true) then
    bad = bad + 1
  end
end
""")
        # Warming Class 5 up without spending seeded calls: first steps of throw-away calls.
        self.lua["class5_warm"] = os.path.join(self.work, "class5_warm.lua")
        with open(self.lua["class5_warm"], "w") as f:
            f.write(done + f"""
local q = "{QUERY_NO_CALL}"
local k = 0
function request()
  k = k + 1
  return wrk.format("GET", "/pivot/c5_ivr?" .. q .. "&Call-ID=warm-" .. (tid or 0) .. "-" .. k)
end
""")

    def wrk(self, t, port, seconds, script=None):
        url = f"http://127.0.0.1:{port}{t.path if t.key not in ('upload', 'class5') else '/'}"
        # A reply slower than 5 s is a failed pivot for Kazoo (req_timeout_ms ≤ 5000): an error.
        cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{span(seconds)}", "--timeout", "5s",
               "-s", script or self.lua[t.key], url]
        if t.key == "class5" and not script:
            cmd += ["--", str(self.c5_calls), str(THREADS), str(self.c5_digits)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = next((l for l in out.stdout.splitlines() if l.startswith("WRKRESULT ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
        r = json.loads(line[len("WRKRESULT "):])
        secs = r["duration_us"] / 1e6
        return {
            "served": r["requests"], "rps": r["requests"] / secs, "p50": r["p50_us"] / 1000,
            "p99": r["p99_us"] / 1000, "errors": r["errors"] + r["status"] + r["bad"],
            "ran_out": secs if r["exhausted"] else None,
        }

    def oha(self, t, port, rate, seconds):
        cmd = ["oha", "--no-tui", "--output-format", "json", "-z", span(seconds),
               "-c", str(CONNECTIONS), "-q", str(rate), "--latency-correction", "-t", "5s", "-m", t.method]
        url = f"http://127.0.0.1:{port}{t.path}"
        if t.key == "upload":
            cmd += ["-D", self.upload_file, "-T", t.ctype, "--rand-regex-url"]
            url = regex_literal(f"http://127.0.0.1:{port}{UPLOAD_URL}").replace(r"\{n\}", "[0-9a-f]")
        elif t.key == "class5":
            # oha draws a random seeded call per request, so some draws repeat a call (the
            # retry path): the table notes the expected share, from the seeded count.
            cmd += ["-d", C5_BODY, "-T", FORM, "--rand-regex-url"]
            ids = ("[0-%d]" % (self.c5_lead - 1)) + ("[0-9]{%d}" % self.c5_rest if self.c5_rest else "")
            url = regex_literal(f"http://127.0.0.1:{port}/pivot/c5_ivr?step=1&Call-ID=c5-") + ids + "%40bench"
        out = subprocess.run(cmd + [url], capture_output=True, text=True)
        try:
            r = json.loads(out.stdout)
        except json.JSONDecodeError:
            raise RuntimeError(f"oha gave no JSON: {out.stdout[-500:]} {out.stderr[-500:]}")
        codes = {int(k): v for k, v in r["statusCodeDistribution"].items()}
        served = sum(codes.values())
        errors = sum(v for k, v in codes.items() if not 200 <= k < 300)
        errors += sum(v for k, v in r["errorDistribution"].items() if "deadline" not in k)
        secs = r["summary"]["total"]
        p = r["latencyPercentiles"]
        out = {"behind": served < 0.95 * rate * secs}
        if t.key == "class5" and served:
            n = self.c5_calls
            distinct = n * (1 - (1 - 1 / n) ** served)
            out["repeat"] = 100 * (1 - distinct / served)
        return {**out, "served": served, "rps": served / secs, "p50": (p.get("p50") or 0) * 1000,
                "p99": (p.get("p99") or 0) * 1000, "errors": errors}

    # --- one measured run

    def measure(self, key, load):
        t = TARGET_DEFS[key]
        s = self.start(key, self.c5_template if key == "class5" else None, quiet=True)
        try:
            if WARMUP > 0:
                warm = self.lua["class5_warm"] if key == "class5" else None
                self.wrk(t, s.port, WARMUP, warm)
            cpu0 = cpu_seconds(s.roots)
            r = self.wrk(t, s.port, DURATION) if load == "wrk" else self.oha(t, s.port, load, DURATION)
            cpu = cpu_seconds(s.roots) - cpu0
            r["cpu_us"] = 1e6 * cpu / r["served"] if r["served"] else float("nan")
            r["rss"] = peak_rss_mib(s.roots)
        finally:
            s.stop()
            # The run's log and data (up to hundreds of MB at saturation) go with it.
            shutil.rmtree(s.workdir, ignore_errors=True)
        return r


def port_free(port):
    """No one listens on the port (connections of earlier runs waiting to close don't count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def span(seconds):
    """Seconds as wrk and oha read a duration (whole seconds: wrk reads no fractions)."""
    return f"{max(1, round(seconds))}s"


def regex_literal(s):
    """`s` as a regex for oha's --rand-regex-url, which escapes dots itself."""
    return re.sub(r"([\\+*?()\[\]{}|^$])", r"\\\1", s)


# ----------------------------------------------------------------------------- preflight


def fetch(port, t, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{t.path}", data=body, method=t.method)
    if t.ctype:
        req.add_header("Content-Type", t.ctype)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def preflight(bench):
    """Each target answers what it should; the peers answer the same JSON tree as the rule flow,
    here over HTTP now and, offline, at the instants of the flow's own scenarios."""
    warnings = []
    s = bench.start("healthz")
    try:
        expected = {}
        for key in ("rule", "script"):
            status, ctype, body = fetch(PORT, TARGET_DEFS[key])
            if status != 200 or not ctype.startswith("application/json"):
                warnings.append(f"{key}: pivotforge answered {status} {ctype}")
            expected[key] = json.loads(body)
        t = TARGET_DEFS["upload"]
        req = urllib.request.Request(f"http://127.0.0.1:{PORT}" + UPLOAD_URL.format(n="0"),
                                     data=open(bench.upload_file, "rb").read(), method="PUT",
                                     headers={"Content-Type": t.ctype})
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status not in (200, 201) or b'"sha256"' not in r.read():
                warnings.append(f"upload: answered {r.status}")
        # A Class 5 call's two steps, to check the second step's request shape.
        conn = HTTPConnection("127.0.0.1", PORT, timeout=10)
        conn.request("GET", "/pivot/c5_ivr?" + QUERY_NO_CALL + "&Call-ID=preflight%40bench")
        first = conn.getresponse().read()
        conn.request("POST", "/pivot/c5_ivr?step=1&Call-ID=preflight%40bench", C5_BODY,
                     {"Content-Type": FORM})
        second = conn.getresponse().read()
        conn.close()
        if b"pf_step0" not in first or C5_SALES_USER.encode() not in second:
            warnings.append(f"class5: the IVR's steps did not go 1 → sales: {first[:200]!r} {second[:200]!r}")
    finally:
        s.stop()

    for key in ("node", "php"):
        if key not in TARGETS:
            continue
        p = bench.start(key)
        try:
            status, ctype, body = fetch(p.port, TARGET_DEFS[key])
            try:
                got = json.loads(body)
            except ValueError:
                got = body[:200]
            if status != 200 or not ctype.startswith("application/json") or got != expected["rule"]:
                warnings.append(f"{key}: answers {status} {ctype} {got}, pivotforge's rule flow {expected['rule']}")
        finally:
            p.stop()

    # The flow's scenarios (callflows/tests/main_number_tod.toml): holidays, Christmas Eve's
    # closing at noon, office hours, a weekend, an evening.
    instants = ["2026-12-24T15:00:00-05:00", "2026-12-24T10:00:00-05:00", "2026-12-22T11:30:00-05:00",
                "2026-12-22T23:05:00Z", "2026-12-25T10:00:00-05:00", "2026-12-26T10:00:00-05:00",
                "2027-01-01T12:00:00-05:00", "2026-07-06T16:59:00-04:00", "2026-07-06T17:00:00-04:00"]
    scratch = tempfile.mkdtemp(dir=bench.work)
    node_js = "const {answer} = require(process.argv[1]); for (const t of process.argv.slice(2)) console.log(JSON.stringify(answer(new Date(t))));"
    node_out = subprocess.run(["node", "-e", node_js, os.path.join(PEERS, "node", "server.js")] + instants,
                              capture_output=True, text=True).stdout.splitlines()
    for i, at in enumerate(instants):
        ours = subprocess.run([BIN, "run", "main_number_tod", "--flows", os.path.join(ROOT, "callflows"),
                               "--data-dir", scratch, "--at", at], capture_output=True, text=True).stdout
        want = json.loads(ours)
        peers = {"node": node_out[i] if i < len(node_out) else "null"}
        if shutil.which("php"):
            peers["php"] = subprocess.run(["php", os.path.join(PEERS, "php", "tod.php"), at],
                                          capture_output=True, text=True).stdout
        for peer, text in peers.items():
            if peer in TARGETS and json.loads(text or "null") != want:
                warnings.append(f"{peer} at {at}: {text.strip()}, pivotforge: {json.dumps(want)}")
    for w in warnings:
        print("WARNING: " + w)
    if not warnings:
        print(f"preflight: every target answers; Node and PHP give pivotforge's tree now and at {len(instants)} scenario instants")


# ----------------------------------------------------------------------------- the table


def mean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def main():
    loads = ["wrk"] + RATES
    work = tempfile.mkdtemp(prefix="pf-load.")
    try:
        bench = Bench(work)
        per_run = DURATION + WARMUP + 1.5
        estimate = per_run * len(loads) * len(TARGETS) * REPEATS
        print(f"{len(TARGETS)} targets × {len(loads)} loads × {REPEATS} runs of {DURATION:g} s "
              f"(+{WARMUP:g} s warm-up): about {estimate / 60:.1f} min plus seeding", flush=True)
        preflight(bench)
        if "class5" in TARGETS:
            bench.seed_class5()
        results = {}
        for rep in range(REPEATS):
            for load in loads:
                for key in TARGETS:
                    r = bench.measure(key, load)
                    results.setdefault((key, load), []).append(r)
                    name = "wrk" if load == "wrk" else f"oha {load}/s"
                    print(f"  run {rep + 1} {key:8} {name:12} {r['rps']:10.0f} req/s  p50 {r['p50']:8.2f} ms"
                          f"  p99 {r['p99']:8.2f} ms  {r['cpu_us']:8.1f} µs CPU/req  {r['rss']:7.1f} MiB"
                          f"  errors {r['errors']}  {note([r])}", file=sys.stderr, flush=True)
        print_table(results, loads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def note(rs):
    """What the table should say besides the figures of these runs of one cell."""
    out = []
    ran_out = [r["ran_out"] for r in rs if r.get("ran_out")]
    if ran_out:
        out.append(f"seeded calls ran out after {mean(ran_out):.1f} s in {len(ran_out)} of {len(rs)} runs")
    behind = sum(1 for r in rs if r.get("behind"))
    if behind:
        out.append(f"fell behind the rate asked in {behind} of {len(rs)} runs")
    repeat = [r["repeat"] for r in rs if "repeat" in r]
    if repeat:
        out.append(f"~{mean(repeat):.0f}% of oha's draws repeat a call")
    return "; ".join(out)


def print_table(results, loads):
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print()
    print(f"One run, {stamp}, {CORES} cores, unpinned; every cell the mean of {REPEATS} runs of "
          f"{DURATION:g} s; wrk -t{THREADS} -c{CONNECTIONS} (saturation), oha -c{CONNECTIONS} -q RATE "
          f"--latency-correction (fixed rate)")
    head = f"{'target':34} {'load':13} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>10} {'peak RSS MiB':>12} {'errors':>7}  note"
    print(head)
    print("-" * len(head))
    m = {}
    for key in TARGETS:
        for load in loads:
            rs = results[(key, load)]
            row = {f: mean([r[f] for r in rs]) for f in ("rps", "p50", "p99", "cpu_us", "rss")}
            row["errors"] = sum(r["errors"] for r in rs)
            m[(key, load)] = row
            notes = note(rs)
            name = "wrk -c%d" % CONNECTIONS if load == "wrk" else f"oha {load}/s"
            label = TARGET_DEFS[key].label if load == loads[0] else ""
            print(f"{label:34} {name:13} {row['rps']:9.0f} {row['p50']:8.2f} {row['p99']:8.2f} "
                  f"{row['cpu_us']:10.1f} {row['rss']:12.1f} {row['errors']:7d}  {notes}")
    print()

    def ratio(a, b, load="wrk"):
        if (a, load) in m and (b, load) in m and m[(b, load)]["rps"]:
            return m[(a, load)]["rps"] / m[(b, load)]["rps"]
        return None

    def line(text, value, op, bound, unit=""):
        if value is None:
            print(f"  {text:34} (not measured)")
            return
        ok = value >= bound if op == "≥" else value <= bound
        shown = f"{value:.2f}{unit}"
        print(f"  {text:34} {shown:>9}   target {op} {bound:g}{unit}: {'met' if ok else 'NOT met'}")

    print("Saturation (wrk), requests/s ratios:")
    line("rule flow / /healthz", ratio("rule", "healthz"), "≥", 0.8)
    line("rule flow / Node.js", ratio("rule", "node"), "≥", 1.1)
    line("script flow / Node.js", ratio("script", "node"), "≥", 0.8)
    line("Class 5 step / Node.js", ratio("class5", "node"), "≥", 0.25)
    r = ratio("rule", "php")
    if r is not None:
        print(f"  {'rule flow / PHP (no target)':34} {r:9.2f}")
    if 5000 in RATES:
        print("Fixed rate 5000/s, p99:")
        for key, bound in (("rule", 1), ("script", 2), ("class5", 5)):
            row = m.get((key, 5000))
            line(f"{TARGET_DEFS[key].label}", row and row["p99"], "≤", bound, " ms")
            if row and row["rps"] < 0.95 * 5000:
                print(f"  {'':34} (kept up with {row['rps']:.0f}/s only: the p99 includes the queue)")


if __name__ == "__main__":
    main()
