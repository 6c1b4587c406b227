#!/usr/bin/env python3
"""The driver of benches/soak.sh: mixed traffic against one `pivotforge serve`, then faults.

Python's standard library on purpose: the soak must check every reply (walk a Class 5 call,
compare a fallback, hash a recording both ways) and kill and restart the service, which wrk and
oha can't; a Rust driver would add a build to a busy 2-core machine. Threads with keep-alive
connections give a few thousand requests a second, enough to keep the service busy for ten
minutes; the soak measures whether it stays healthy, not how fast it can go (benches/load.sh).

It starts the service itself (the command after `--`), so the faults phase can `kill -9` it and
start it again on the same data dir. Every figure goes to stdout; the exit status is 1 when a
check FAILs.
"""

import argparse
import hashlib
import http.client
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Kazoo's GET parameters for a first request (as benches/load.sh sends them), without Call-ID.
KAZOO = {
    "User-ID": "8f0c3a1d9e2b4c5d6e7f8a9b0c1d2e3f",
    "To-Realm": "acme.sip.example.com",
    "To": "2030",
    "Request": "2030",
    "Language": "en-us",
    "From": "1000",
    "Direction": "inbound",
    "Caller-ID-Number": "+14155550100",
    "Caller-ID-Name": "Alice Smith",
    "Api-Version": "4.x",
    "Account-ID": "3a1d9e2b4c5d6e7f8a9b0c1d2e3f4a5b",
}
# The shipped c5_ivr's second step by the key pressed (callflows/tests/c5_ivr.toml says the same).
C5_IVR_ENDS = {
    "1": [("user", "8f0c2b4d6e8a0c2e4f6a8b0d2c4e6f8a")],
    "5": [("tts", "5 is not an option. Goodbye."), ("hangup", None)],
    # Nothing pressed routes to the device that is also the flow's fallback: this reply can't
    # tell the two apart, the other keys can.
    "": [("device", "3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d")],
}
MP3_HEAD = b"\xff\xfb\x90\x64"  # an MP3 frame header: the upload passes the format check
results = []  # (check, passed, detail) of every PASS/FAIL line


def check(name, passed, detail=""):
    results.append((name, passed, detail))
    print(f"{'PASS' if passed else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)


def kazoo_form(params):
    """Kazoo's encoding: keys as they are (brackets raw), values %-escaped."""
    return "&".join(f"{k}={urllib.parse.quote(str(v), safe='')}" for k, v in params.items())


def walk(tree):
    """The nodes of a reply in the order Kazoo runs them (along `_` children)."""
    nodes = []
    while isinstance(tree, dict):
        nodes.append(tree)
        tree = (tree.get("children") or {}).get("_")
    return nodes


def main_field(node):
    data = node.get("data") or {}
    for key in ("text", "id", "collection_name", "voice_url"):
        if key in data:
            return data[key]
    return None


class Service:
    """The service as a child process: started, killed with SIGKILL, started again."""

    def __init__(self, cmd, log_path, port):
        self.cmd, self.log_path, self.port, self.proc = cmd, log_path, port, None

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        started = time.monotonic()
        while time.monotonic() - started < 60:
            if self.proc.poll() is not None:
                raise SystemExit(f"the service exited with {self.proc.returncode}: see {self.log_path}")
            try:
                status, _, _ = request(self.port, "GET", "/healthz", timeout=1)
                if status == 200:
                    return time.monotonic() - started
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        raise SystemExit(f"the service did not answer /healthz within 60 s: see {self.log_path}")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
        except (OSError, KeyError, ValueError):
            return None, None


def request(port, method, path, body=None, headers=None, timeout=10, conn=None):
    """One request; returns (status, headers dict, body). Raises OSError/HTTPException."""
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        if own:
            c.close()


class Stats:
    """Counts of completed requests per interval and of errors by kind, shared by all threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.interval = {}
        self.totals = {}
        self.errors = {}
        self.interval_errors = 0

    def done(self, kind, error=None):
        with self.lock:
            self.interval[kind] = self.interval.get(kind, 0) + 1
            self.totals[kind] = self.totals.get(kind, 0) + 1
            if error:
                self.errors[error] = self.errors.get(error, 0) + 1
                self.interval_errors += 1

    def take_interval(self):
        with self.lock:
            counts, errors = self.interval, self.interval_errors
            self.interval, self.interval_errors = {}, 0
            return counts, errors


class Pivot:
    """One keep-alive connection sending pivot requests and judging their replies."""

    def __init__(self, port, stats, expect):
        self.port, self.stats, self.expect = port, stats, expect
        self.conn = None

    def send(self, kind, method, path, form=None):
        """Sends one request; returns the reply's JSON, or None after counting an error."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        try:
            status, head, data = request(self.port, method, path, form, headers, conn=self.conn)
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            self.conn = None
            self.stats.done(kind, f"{kind}: connection error ({type(e).__name__})")
            return None
        if head.get("connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        if status != 200:
            self.stats.done(kind, f"{kind}: HTTP {status}")
            return None
        try:
            tree = json.loads(data)
        except ValueError:
            self.stats.done(kind, f"{kind}: wrong reply (not JSON)")
            return None
        return tree

    def flow(self, kind, name, accepted):
        query = kazoo_form(dict(KAZOO, **{"Call-ID": f"soak-{random.getrandbits(48):x}@pbx"}))
        tree = self.send(kind, "GET", f"/pivot/{name}?{query}")
        if tree is None:
            return
        if tree in accepted:
            self.stats.done(kind)
        else:
            self.stats.done(kind, f"{kind}: wrong reply {json.dumps(tree)[:160]}")

    def class5(self, rnd):
        """The shipped c5_ivr walked as Kazoo walks it: the first GET, then the pivot back."""
        call = f"soak-c5-{rnd.getrandbits(48):x}@pbx"
        tree = self.send("c5 step 1", "GET", f"/pivot/c5_ivr?{kazoo_form(dict(KAZOO, **{'Call-ID': call}))}")
        if tree is None:
            return
        nodes = walk(tree)
        collect = [n for n in nodes if n.get("module") == "collect_dtmf"]
        pivot = nodes[-1] if nodes and nodes[-1].get("module") == "pivot" else None
        if not collect or pivot is None or not str(main_field(pivot)).endswith("/pivot/c5_ivr?step=1"):
            self.stats.done("c5 step 1", f"c5 step 1: wrong reply {json.dumps(tree)[:160]}")
            return
        self.stats.done("c5 step 1")
        key = rnd.choice(["1", "1", "1", "5", "5", ""])
        name = collect[0]["data"]["collection_name"]
        url = urllib.parse.urlsplit(main_field(pivot))
        form = kazoo_form(dict(KAZOO, **{"Call-ID": call, f"Digits[{name}]": key}))
        end = self.send("c5 step 2", "POST", f"{url.path}?{url.query}", form.encode())
        if end is None:
            return
        got = [(n.get("module"), main_field(n)) for n in walk(end)]
        want = C5_IVR_ENDS[key]
        # A bridge's `_` child is the pivot back that runs if it fails: not part of the answer.
        rest = got[len(want):]
        if got[: len(want)] == want and all(m == "pivot" and "bridge=" in str(u) for m, u in rest):
            self.stats.done("c5 step 2")
        else:
            self.stats.done("c5 step 2", f"c5 step 2: wrong reply for key {key!r}: {got}")


def audio(rnd, min_kb, max_kb):
    size = int(math.exp(rnd.uniform(math.log(min_kb * 1024), math.log(max_kb * 1024))))
    return MP3_HEAD + os.urandom(max(size, 8) - len(MP3_HEAD))


def upload(port, name, account, body, timeout=30):
    """PUT as Kazoo's record_call does; returns (status, reply JSON or None)."""
    path = f"/recordings/call_recording_{name}.mp3?call_id={name}&account_id={account}"
    status, _, data = request(port, "PUT", path, body, {"Content-Type": "audio/mpeg"}, timeout)
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


class Uploads:
    """Every upload sent and every one acknowledged, with the SHA-256 of what was sent."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}  # id → (name, sha256, size) of the last acknowledged copy
        self.sent = {}  # name → set of SHA-256 of every body sent under that name
        self.bytes = 0

    def sending(self, name, sha):
        with self.lock:
            self.sent.setdefault(name, set()).add(sha)

    def ack(self, rid, name, sha, size):
        with self.lock:
            self.acked[rid] = (name, sha, size)
            self.bytes += size


def uploader(port, stats, uploads, account, tag, stop, args, rnd):
    mine = []
    n = 0
    while not stop.is_set():
        if mine and rnd.random() < 0.05:
            name, expected = rnd.choice(mine), 200  # the PBX's retry: the same name replaces it
        else:
            n += 1
            name, expected = f"{tag}-{n}", 201
        body = audio(rnd, args.upload_min_kb, args.upload_max_kb)
        sha = hashlib.sha256(body).hexdigest()
        uploads.sending(name, sha)
        try:
            status, reply = upload(port, name, account, body)
        except (OSError, http.client.HTTPException) as e:
            stats.done("upload", f"upload: connection error ({type(e).__name__})")
            continue
        if status != expected or not reply:
            stats.done("upload", f"upload: HTTP {status} (expected {expected})")
        elif reply.get("sha256") != sha or reply.get("size") != len(body):
            stats.done("upload", "upload: wrong reply (acknowledged SHA-256 or size differs)")
        else:
            uploads.ack(reply["id"], name, sha, len(body))
            if expected == 201:
                mine.append(name)
            stats.done("upload")
        stop.wait(args.upload_pause)


def download_sha(port, rid):
    """(status, SHA-256 of the audio) of a stored recording, streamed."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        c.request("GET", f"/recordings/{rid}/audio")
        r = c.getresponse()
        h = hashlib.sha256()
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
        return r.status, h.hexdigest()
    finally:
        c.close()


def verify_recordings(port, uploads, label):
    lost, corrupt = [], []
    for rid, (name, sha, _) in sorted(uploads.acked.items()):
        try:
            status, got = download_sha(port, rid)
        except (OSError, http.client.HTTPException) as e:
            lost.append(f"{name}: {type(e).__name__}")
            continue
        if status == 404:
            lost.append(name)
        elif status != 200 or got != sha:
            corrupt.append(f"{name} (HTTP {status})")
    n = len(uploads.acked)
    print(f"{label}: {n} acknowledged recordings ({uploads.bytes / 2**20:.1f} MiB acknowledged), "
          f"downloaded back: {n - len(lost) - len(corrupt)} intact, {len(lost)} lost, {len(corrupt)} corrupt")
    check(f"{label}: no acknowledged recording lost", not lost, ", ".join(lost[:5]))
    check(f"{label}: no acknowledged recording corrupt (SHA-256)", not corrupt, ", ".join(corrupt[:5]))


def recordings_dir_report(args_port, root, account, uploads, label):
    """Lists the account's folder: temporary files, and each file's hash against what was sent."""
    files, temps, unknown = [], [], []
    base = os.path.join(root, account)
    for folder, _, names in os.walk(base):
        for n in names:
            path = os.path.join(folder, n)
            if n.startswith("."):
                temps.append(os.path.relpath(path, root))
                continue
            files.append(path)
    for path in files:
        stem = stem_of(path)
        with open(path, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        if sha not in uploads.sent.get(stem, ()):
            unknown.append(os.path.relpath(path, root))
    days = sorted({os.path.relpath(os.path.dirname(p), root) for p in files})
    print(f"{label}: {root}/{account}: {len(files)} recording files in {', '.join(days) or 'no folder'}, "
          f"{len(temps)} temporary or hidden: {temps[:10]}")
    check(f"{label}: no temporary (.upload-*.part) or hidden file in the recordings dir", not temps,
          ", ".join(temps[:5]))
    check(f"{label}: every file on disk is a whole body that was sent (SHA-256)", not unknown,
          ", ".join(unknown[:5]))
    page = listing(args_port, account) or []
    listed = {r["call_id"] for r in page}
    # A listing holds 1000 at most: past that, the soak's count of files against acknowledged
    # uploads stands in for this.
    unlisted = [os.path.relpath(p, root) for p in files if stem_of(p) not in listed] if len(page) < 1000 else []
    if unlisted:
        # A kill after the file's rename and before its metadata's commit: whole, but not in
        # /recordings (not acknowledged either, so the PBX retries and the retry replaces it).
        print(f"NOTE  {label}: {len(unlisted)} whole files on disk have no metadata (not listed): {unlisted[:10]}")
    return files, unlisted


def stem_of(path):
    """The call id an upload's file is named for (the soak's ids need no encoding)."""
    return os.path.basename(path).removeprefix("call_recording_").rsplit(".", 1)[0]


def listing(port, account):
    status, _, data = request(port, "GET", f"/recordings?account_id={account}&limit=1000")
    return json.loads(data)["recordings"] if status == 200 else None


def soak(args, service, uploads, expect):
    stats = Stats()
    stop = threading.Event()
    bad = args.bad_share * 100
    # Requests per action: a Class 5 call is two, so its weight is half its share of requests.
    actions = ["rule", "script", "c5", "timeout", "memory"]
    weights = [(100 - bad) * 0.45, (100 - bad) * 0.30, (100 - bad) * 0.25 / 2, bad / 2, bad / 2]

    def traffic(seed):
        rnd = random.Random(seed)
        p = Pivot(args.port, stats, expect)
        while not stop.is_set():
            a = rnd.choices(actions, weights)[0]
            if a == "rule":
                p.flow("rule main_number_tod", "main_number_tod", expect["rule"])
            elif a == "script":
                p.flow("script business_hours", "business_hours", expect["script"])
            elif a == "c5":
                p.class5(rnd)
            elif a == "timeout":
                p.flow("soak_timeout (fallback)", "soak_timeout", expect["timeout"])
            else:
                p.flow("soak_memory (fallback)", "soak_memory", expect["memory"])

    threads = [threading.Thread(target=traffic, args=(i,), daemon=True) for i in range(args.connections)]
    threads += [threading.Thread(target=uploader, daemon=True,
                                 args=(args.port, stats, uploads, "soak", f"u{i}", stop, args, random.Random(1000 + i)))
                for i in range(args.uploaders)]
    started = time.monotonic()
    for t in threads:
        t.start()
    print(f"warm-up {args.warmup:.0f} s, then {args.duration:.0f} s of traffic: {args.connections} pivot "
          f"connections, {args.uploaders} uploaders ({args.upload_min_kb}-{args.upload_max_kb} KiB, "
          f"{args.upload_pause} s apart), {args.bad_share:.0%} of pivot requests to soak_timeout/soak_memory",
          flush=True)
    time.sleep(args.warmup)
    stats.take_interval()
    rss_start, _ = service.rss_kb()
    rows, end_at = [], time.monotonic() + args.duration
    print(f"{'t (s)':>6} {'req/s':>8} {'errors':>7} {'uploads':>8} {'RSS MiB':>8}", flush=True)
    t0 = time.monotonic()
    while time.monotonic() < end_at and service.alive():
        time.sleep(min(args.interval, max(0.0, end_at - time.monotonic())))
        counts, errors = stats.take_interval()
        rss, _ = service.rss_kb()
        span = time.monotonic() - t0
        t0 = time.monotonic()
        total = sum(counts.values())
        row = (time.monotonic() - started - args.warmup, total / span, errors, counts.get("upload", 0), rss)
        rows.append(row)
        print(f"{row[0]:6.0f} {row[1]:8.0f} {row[2]:7d} {row[3]:8d} {(rss or 0) / 1024:8.1f}", flush=True)
    rss_end, hwm = service.rss_kb()
    stop.set()
    for t in threads:
        t.join(30)
    check("soak: the service stayed up", service.alive())
    if not service.alive():
        return stats
    rss_min = min(r[4] for r in rows if r[4])
    rss_max = max(r[4] for r in rows if r[4])
    print("\nrequests by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.totals.items())))
    print("errors by kind: " + ("none" if not stats.errors else ""))
    for k, v in sorted(stats.errors.items(), key=lambda kv: -kv[1]):
        print(f"  {v:7d}  {k}")
    rates = [r[1] for r in rows]
    print(f"throughput: mean {sum(rates) / len(rates):.0f} req/s, min {min(rates):.0f}, max {max(rates):.0f} "
          f"(per {args.interval:.0f} s interval)")
    growth = 100.0 * (rss_end - rss_start) / rss_start
    print(f"RSS: {rss_start / 1024:.1f} MiB after the warm-up, {rss_end / 1024:.1f} MiB at the end "
          f"({growth:+.1f}%); min {rss_min / 1024:.1f}, max {rss_max / 1024:.1f}, peak (VmHWM) {hwm / 1024:.1f} MiB")
    metrics(args.port)
    check("soak: no error of any kind", not stats.errors, f"{sum(stats.errors.values())} errors")
    check("soak: RSS growth after the warm-up < 10%", growth < 10, f"{growth:+.1f}%")
    verify_recordings(args.port, uploads, "soak")
    files, _ = recordings_dir_report(args.port, args.recordings, "soak", uploads, "soak")
    check("soak: one file per acknowledged recording", len(files) == len(uploads.acked),
          f"{len(files)} files, {len(uploads.acked)} acknowledged")
    return stats


def metrics(port):
    """What the service counted of the hostile flows (timeouts, memory limits, refusals)."""
    try:
        _, _, data = request(port, "GET", "/metrics")
    except OSError:
        return
    wanted = ("pivotforge_script_timeouts_total", "pivotforge_script_memory_limits_total",
              "pivotforge_js_pool_rejected_total", "pivotforge_script_refused_total",
              "pivotforge_script_breaker_trips_total", "pivotforge_calls_not_stored_total")
    lines = [l for l in data.decode().splitlines() if l.startswith(wanted)]
    print("service counters: " + "; ".join(lines))


class Hold(BaseHTTPRequestHandler):
    """The fetch soak_c5's second step makes: held back while `holding` is set."""

    holding = threading.Event()
    arrived = threading.Event()
    release = threading.Event()
    keys = []

    def do_GET(self):
        Hold.keys.append(self.headers.get("Idempotency-Key"))
        if Hold.holding.is_set():
            Hold.arrived.set()
            Hold.release.wait(5)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass  # the service that asked was killed

    def log_message(self, *_):
        pass


class C5Call:
    """A soak_c5 call walked step by step over HTTP, as Kazoo does."""

    def __init__(self, port, call):
        self.port, self.call, self.digits, self.next = port, call, {}, None

    def step(self, key=None, timeout=10):
        if self.next is None:
            status, _, data = request(self.port, "GET",
                                      f"/pivot/soak_c5?{kazoo_form(dict(KAZOO, **{'Call-ID': self.call}))}",
                                      timeout=timeout)
        else:
            collection, url = self.next
            self.digits[f"Digits[{collection}]"] = key
            form = kazoo_form(dict(KAZOO, **{"Call-ID": self.call}, **self.digits))
            status, _, data = request(self.port, "POST", url, form.encode(),
                                      {"Content-Type": "application/x-www-form-urlencoded"}, timeout)
        tree = json.loads(data) if status == 200 else None
        return status, tree

    def follow(self, tree):
        """Remembers where the reply's pivot goes next; returns the spoken texts."""
        nodes = walk(tree)
        collect = [n["data"]["collection_name"] for n in nodes if n.get("module") == "collect_dtmf"]
        pivot = [urllib.parse.urlsplit(n["data"]["voice_url"]) for n in nodes if n.get("module") == "pivot"]
        self.next = (collect[0], f"{pivot[0].path}?{pivot[0].query}") if collect and pivot else None
        return [n["data"].get("text") for n in nodes if n.get("module") == "tts"], [n.get("module") for n in nodes]


def faults(args, service, uploads):
    print("\n== faults: kill -9 during uploads and during a Class 5 call, restart on the same data dir",
          flush=True)
    hold = ThreadingHTTPServer(("127.0.0.1", args.hold_port), Hold)
    threading.Thread(target=hold.serve_forever, daemon=True).start()
    account = "faults"

    # 1. Uploads in flight: fast ones, and slow ones whose body is only half sent at the kill.
    stats, stop = Stats(), threading.Event()
    fast = [threading.Thread(target=uploader, daemon=True,
                             args=(args.port, stats, uploads, account, f"k{i}", stop,
                                   argparse.Namespace(upload_min_kb=64, upload_max_kb=4096, upload_pause=0),
                                   random.Random(2000 + i)))
            for i in range(args.uploaders)]
    slow = []
    for i in range(3):
        body = audio(random.Random(3000 + i), 512, 1024)
        name = f"half-{i}"
        uploads.sending(name, hashlib.sha256(body).hexdigest())
        s = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
        s.putrequest("PUT", f"/recordings/call_recording_{name}.mp3?call_id={name}&account_id={account}")
        s.putheader("Content-Type", "audio/mpeg")
        s.putheader("Content-Length", str(len(body)))
        s.endheaders()
        s.send(body[: len(body) // 2])
        slow.append(s)
    for t in fast:
        t.start()
    temps = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        temps = [n for _, _, ns in os.walk(os.path.join(args.recordings, account)) for n in ns if n.endswith(".part")]
        if len(temps) >= 3 and stats.totals.get("upload", 0) >= args.uploaders:
            break
    acked_before = sum(1 for n, _, _ in uploads.acked.values() if n.startswith(("k", "half")))
    print(f"killing the service (kill -9) with {len(temps)} temporary upload files open and "
          f"{acked_before} uploads of this phase acknowledged", flush=True)
    service.kill9()
    stop.set()
    for t in fast:
        t.join(30)
    for s in slow:
        s.close()
    errors = sum(stats.errors.values())
    print(f"uploads during the kill: {stats.totals.get('upload', 0)} ended, of which {errors} failed "
          f"({', '.join(sorted(stats.errors)) or 'none'}): not acknowledged, the PBX would retry them")
    took = service.start()
    print(f"restarted on the same data dir in {took:.2f} s")
    # The start-up sweep runs in the background: give it a moment, then look.
    for _ in range(50):
        if not any(n.startswith(".") for _, _, ns in os.walk(os.path.join(args.recordings, account)) for n in ns):
            break
        time.sleep(0.1)
    verify_recordings(args.port, uploads, "faults/uploads")
    listed = listing(args.port, account) or []
    bad = [r["id"] for r in listed if r["sha256"] not in uploads.sent.get(r["call_id"], ())]
    print(f"faults/uploads: the listing of account {account} holds {len(listed)} recordings")
    check("faults/uploads: every listed recording is a whole body that was sent", not bad, ", ".join(bad[:5]))
    recordings_dir_report(args.port, args.recordings, account, uploads, "faults/uploads")
    sweep = [l.strip() for l in open(service.log_path, errors="replace") if "swept unfinished uploads" in l]
    print(f"service log: {sweep[-1][:200] if sweep else 'no sweep line'}")

    # 2. A Class 5 call killed between its steps.
    a = C5Call(args.port, f"faults-between-{os.getpid()}@pbx")
    status, tree = a.step()
    texts, _ = a.follow(tree) if tree else ([], [])
    check("faults/c5 between steps: step 1 answered", status == 200 and texts == ["Step one. Press a key."],
          f"HTTP {status} {texts}")
    service.kill9()
    print(f"killed (kill -9) between steps 1 and 2; restarted in {service.start():.2f} s")
    status, tree = a.step("4")
    texts, _ = a.follow(tree) if tree else ([], [])
    check("faults/c5 between steps: step 2 continues after the restart",
          status == 200 and texts == ["Step two. You pressed 4, the hold said 200. Press another key."],
          f"HTTP {status} {texts}")
    status, tree = a.step("7")
    texts, modules = a.follow(tree) if tree else ([], [])
    check("faults/c5 between steps: step 3 remembers both keys",
          status == 200 and texts == ["Step three. You pressed 4 then 7."] and modules[-1:] == ["hangup"],
          f"HTTP {status} {texts} {modules}")

    # 3. A Class 5 call killed while its second step is in flight (held in its fetch).
    b = C5Call(args.port, f"faults-inflight-{os.getpid()}@pbx")
    status, tree = b.step()
    b.follow(tree or {})
    Hold.keys.clear()
    Hold.holding.set()
    outcome = {}

    def second():
        try:
            outcome["reply"] = b.step("2", timeout=20)
        except (OSError, http.client.HTTPException) as e:
            outcome["error"] = type(e).__name__

    t = threading.Thread(target=second)
    t.start()
    arrived = Hold.arrived.wait(10)
    check("faults/c5 in flight: step 2 reached its fetch (the step is in flight)", arrived)
    service.kill9()
    Hold.holding.clear()
    Hold.release.set()
    t.join(30)
    print(f"killed (kill -9) during step 2; the PBX saw: {outcome.get('error') or outcome.get('reply')}")
    print(f"restarted in {service.start():.2f} s; step 2 sent again, as a retry would")
    status, tree = b.step("2")
    texts, _ = b.follow(tree) if tree else ([], [])
    check("faults/c5 in flight: step 2 answers after the restart",
          status == 200 and texts == ["Step two. You pressed 2, the hold said 200. Press another key."],
          f"HTTP {status} {texts}")
    status, tree = b.step("9")
    texts, modules = b.follow(tree) if tree else ([], [])
    check("faults/c5 in flight: step 3 continues the call",
          status == 200 and texts == ["Step three. You pressed 2 then 9."] and modules[-1:] == ["hangup"],
          f"HTTP {status} {texts} {modules}")
    keys = [k for k in Hold.keys if k]
    check("faults/c5 in flight: the step's fetch carried the same Idempotency-Key both times",
          len(keys) == 2 and keys[0] == keys[1], f"{keys}")
    hold.shutdown()


def seconds(text):
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phase", choices=["all", "soak", "faults"], default="all")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hold-port", type=int, required=True)
    p.add_argument("--recordings", required=True, help="the service's recordings folder")
    p.add_argument("--log", required=True, help="where the service's output goes")
    p.add_argument("--expect", action="append", default=[], help="KIND=FILE of an accepted reply tree")
    p.add_argument("--duration", type=seconds, default=600)
    p.add_argument("--warmup", type=seconds, default=None)
    p.add_argument("--interval", type=seconds, default=None)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--uploaders", type=int, default=4)
    p.add_argument("--upload-min-kb", type=int, default=4)
    p.add_argument("--upload-max-kb", type=int, default=1024)
    p.add_argument("--upload-pause", type=float, default=0.5)
    p.add_argument("--bad-share", type=float, default=0.05)
    p.add_argument("serve", nargs=argparse.REMAINDER, help="-- the service's command")
    args = p.parse_args()
    args.serve = [a for a in args.serve if a != "--"] if args.serve[:1] == ["--"] else args.serve
    args.warmup = args.warmup if args.warmup is not None else (30 if args.duration >= 300 else 10)
    args.interval = args.interval if args.interval is not None else (30 if args.duration >= 300 else 10)
    expect = {}
    for item in args.expect:
        kind, path = item.split("=", 1)
        with open(path) as f:
            expect.setdefault(kind, []).append(json.load(f))

    service = Service(args.serve, args.log, args.port)
    uploads = Uploads()
    took = service.start()
    print(f"service up in {took:.2f} s (pid {service.proc.pid}); its log: {args.log}", flush=True)
    try:
        if args.phase in ("all", "soak"):
            soak(args, service, uploads, expect)
        if args.phase in ("all", "faults") and service.alive():
            faults(args, service, uploads)
    finally:
        service.stop()
    failed = [r for r in results if not r[1]]
    print(f"\n{len(results) - len(failed)} PASS, {len(failed)} FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
