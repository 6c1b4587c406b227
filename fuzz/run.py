#!/usr/bin/env python3
"""Runs one cargo-fuzz target until the issue's rule is met: at least MIN seconds, and until
QUIET seconds pass without new coverage, at most MAX seconds. Prints a summary line.

usage: fuzz/run.py TARGET [MIN QUIET MAX]   (after `cargo +nightly fuzz build -O` in fuzz/)
       FUZZ_CORPUS=DIR fuzz/run.py ...        grows DIR/TARGET instead of fuzz/corpus/TARGET
"""
import os, re, subprocess, sys, time

target = sys.argv[1]
low, quiet, high = (int(a) for a in (sys.argv[2:5] or ["600", "120", "1800"]))
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# FUZZ_CORPUS names a folder of raw corpora (one per target) to grow instead of the committed,
# minimised one: a resumed run then starts from everything the earlier runs found.
corpus = os.path.join(os.environ.get("FUZZ_CORPUS", os.path.join(root, "fuzz", "corpus")), target)
seeds = os.path.join(root, "fuzz", "seeds", target)
os.makedirs(corpus, exist_ok=True)
# The binary `cargo +nightly fuzz build -O` made: run directly, so that an edit of the sources
# during a run doesn't start a rebuild that the run's clock would count.
binary = os.path.join(root, "fuzz", "target", "x86_64-unknown-linux-gnu", "release", target)
artifacts = os.path.join(root, "fuzz", "artifacts", target)
os.makedirs(artifacts, exist_ok=True)
cmd = [binary, f"-artifact_prefix={artifacts}/", f"-max_total_time={high}",
       "-rss_limit_mb=2048", "-timeout=10", "-print_final_stats=1", corpus, seeds]
start = time.time()
last_new = start
cov = None
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True, errors="replace")
log = open(os.path.join(root, "fuzz", f"last-run-{target}.log"), "w")
crashed = False
for line in proc.stdout:
    log.write(f"{time.time() - start:8.1f} {line}")
    m = re.search(r"cov: (\d+)", line)
    if m and (cov is None or int(m.group(1)) > cov):
        cov = int(m.group(1))
        last_new = time.time()
    if "SUMMARY" in line or "deadly signal" in line or "panicked" in line:
        crashed = True
    now = time.time()
    if now - start >= low and now - last_new >= quiet:
        proc.terminate()
        break
proc.wait()
elapsed = time.time() - start
print(f"{target}: {elapsed:.0f} s, coverage {cov}, last new coverage at "
      f"{last_new - start:.0f} s, crashed: {crashed}, corpus {len(os.listdir(corpus))} files")
