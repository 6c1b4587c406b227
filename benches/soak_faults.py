"""The faults phase of benches/soak.sh: kill -9 of the service during uploads (some half sent),
between two steps of a Class 5 call and while a step is in flight, each time started again on the
same data dir; then the checks that recordings, the recordings folder and the call came through."""

import argparse
import hashlib
import http.client
import json
import os
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from soak_common import (KAZOO, Stats, audio, check, kazoo_form, listing, recordings_dir_report, request,
                         uploader, verify_recordings, walk)

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
