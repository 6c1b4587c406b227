"""The processes of a load target, for benches/load.py: starting a server (one or more processes
in their own sessions), waiting until it answers, and reading its whole process tree's CPU time
and peak memory from /proc."""

import os
import signal
import subprocess
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def tree_pids(roots):
    """Every live process under the root pids (the roots included), from /proc's parent links."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(roots):
    """utime + stime of the whole tree, in seconds (threads included: /proc/PID/stat sums them)."""
    total = 0
    for pid in tree_pids(roots):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total / TICK


def peak_rss_mib(roots):
    """VmHWM summed over the tree (pages shared between forked workers count once per process)."""
    kb = 0
    for pid in tree_pids(roots):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        kb += int(line.split()[1])
        except OSError:
            pass
    return kb / 1024


class Server:
    """One or more processes started together (nginx + php-fpm are one target), stopped together."""

    def __init__(self, name, port, commands, workdir, cwd, env=None, quiet=False):
        """`quiet`: output to /dev/null instead of a log file, so that a measured run's log lines
        (one a request, hundreds of MB at saturation) don't queue writeback ahead of the fsyncs
        of the targets that make their writes durable."""
        self.name, self.port, self.workdir = name, port, workdir
        self.procs = []
        log = open(os.devnull if quiet else os.path.join(workdir, f"{name}.log"), "ab")
        for cmd in commands:
            self.procs.append(
                subprocess.Popen(
                    cmd, cwd=cwd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    env={**os.environ, **(env or {})}, start_new_session=True,
                )
            )
        log.close()

    @property
    def roots(self):
        return [p.pid for p in self.procs]

    def wait_ready(self, path="/healthz", seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({p.returncode}): see {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer {path} in {seconds} s: {self.log_tail()}")

    def log_tail(self):
        if not os.path.exists(os.path.join(self.workdir, f"{self.name}.log")):
            return "(no log: a measured run's output goes to /dev/null)"
        try:
            with open(os.path.join(self.workdir, f"{self.name}.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def stop(self):
        # Each target runs in its own session (start_new_session), so its group id is its pid.
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
