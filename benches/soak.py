#!/usr/bin/env python3
"""The driver of benches/soak.sh: mixed traffic against one `pivotforge serve`, then faults.

Python's standard library on purpose: the soak must check every reply (walk a Class 5 call,
compare a fallback, hash a recording both ways) and kill and restart the service, which wrk and
oha can't; a Rust driver would add a build to a busy 2-core machine. Threads with keep-alive
connections give hundreds to thousands of checked requests a second, enough to keep the service
busy for ten minutes: the soak measures whether it stays healthy, not how fast it can go
(benches/load.sh does).

It starts the service itself (the command after `--`), so the faults phase can `kill -9` it and
start it again on the same data dir. Every figure goes to stdout; the exit status is 1 when a
check FAILs.
"""

import argparse
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse

from soak_common import (KAZOO, Service, Stats, Uploads, check, kazoo_form, main_field, recordings_dir_report,
                         request, results, uploader, verify_recordings, walk)
from soak_faults import faults

C5_IVR_ENDS = {
    "1": [("user", "8f0c2b4d6e8a0c2e4f6a8b0d2c4e6f8a")],
    "5": [("tts", "5 is not an option. Goodbye."), ("hangup", None)],
    # Nothing pressed routes to the device that is also the flow's fallback: this reply can't
    # tell the two apart, the other keys can.
    "": [("device", "3a1d5c7e9b2f4a6c8e0d1f3b5a7c9e2d")],
}
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
        started = time.perf_counter()
        try:
            status, head, data = request(self.port, method, path, form, headers, conn=self.conn)
            self.stats.took(kind, (time.perf_counter() - started) * 1000)
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


def soak(args, service, uploads, expect):
    stats = Stats()
    stop = threading.Event()
    # A Class 5 call is two requests, so its weight is half its share of requests.
    actions, weights = ["rule", "script", "c5"], [0.45, 0.30, 0.25 / 2]
    good, hostile = [0], [0]  # requests sent of each, to keep the hostile ones at their share

    def traffic(seed):
        rnd = random.Random(seed)
        p = Pivot(args.port, stats, expect)
        while not stop.is_set():
            a = rnd.choices(actions, weights)[0]
            if a == "rule":
                p.flow("rule main_number_tod", "main_number_tod", expect["rule"])
            elif a == "script":
                p.flow("script business_hours", "business_hours", expect["script"])
            else:
                p.class5(rnd)
                good[0] += 1
            good[0] += 1

    def hostile_traffic(seed):
        # Connections of their own, as distinct calls from a PBX are: a hostile call that holds
        # its connection for its time limit does not slow the other callers' requests down.
        rnd = random.Random(seed)
        p = Pivot(args.port, stats, expect)
        while not stop.is_set():
            if hostile[0] >= good[0] * args.bad_share / (1 - args.bad_share):
                stop.wait(0.005)
                continue
            hostile[0] += 1
            if rnd.random() < 0.5:
                p.flow("soak_timeout (fallback)", "soak_timeout", expect["timeout"])
            else:
                p.flow("soak_memory (fallback)", "soak_memory", expect["memory"])

    threads = [threading.Thread(target=hostile_traffic, args=(100 + i,), daemon=True)
               for i in range(4 if args.bad_share > 0 else 0)]
    threads += [threading.Thread(target=traffic, args=(i,), daemon=True) for i in range(args.connections)]
    threads += [threading.Thread(target=uploader, daemon=True,
                                 args=(args.port, stats, uploads, "soak", f"u{i}", stop, args, random.Random(1000 + i)))
                for i in range(args.uploaders)]
    started = time.monotonic()
    for t in threads:
        t.start()
    print(f"warm-up {args.warmup:.0f} s, then {args.duration:.0f} s of traffic: {args.connections} pivot "
          f"connections, {args.uploaders} uploaders ({args.upload_min_kb}-{args.upload_max_kb} KiB, "
          f"{args.upload_pause} s apart), {args.bad_share:.0%} of pivot requests to soak_timeout/soak_memory "
          f"(on 4 connections of their own)",
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
    print(stats.latency_line())
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
    if failed:
        # What the service said about it: its warnings, errors and refused uploads.
        with open(args.log, errors="replace") as f:
            said = [l.rstrip() for l in f if " WARN " in l or " ERROR " in l or "recording refused" in l]
        print(f"\nthe service's log ({len(said)} warnings, errors and refusals; the last 20):")
        for line in said[-20:]:
            print("  " + line[:300])
    print(f"\n{len(results) - len(failed)} PASS, {len(failed)} FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
