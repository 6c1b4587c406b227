"""What benches/soak.py and benches/soak_faults.py share: the service as a child process, HTTP
requests, Kazoo's encoding, the counters, and recording uploads with their SHA-256 and checks."""

import hashlib
import http.client
import json
import math
import os
import signal
import subprocess
import threading
import time
import urllib.parse

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
        self.latency = {}  # kind → milliseconds of every pivot request

    def took(self, kind, ms):
        with self.lock:
            self.latency.setdefault(kind, []).append(ms)

    def latency_line(self):
        parts = []
        for kind, times in sorted(self.latency.items()):
            times = sorted(times)
            pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
            parts.append(f"{kind} p50 {pick(0.5):.1f} / p99 {pick(0.99):.1f}")
        return "latency (ms): " + ", ".join(parts)

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
