#!/usr/bin/env python3
"""Nacos naming client benchmarks (driver of bench/client/run.sh; see that file for usage).

Four clients, each in the roles of client_bench.cc / sdk_bench.js (listener, provider, hold):
  grpc  our NamingClient over gRPC         http  our NamingClient over v1 HTTP (UDP push)
  rust  the Rust SDK 0.8.0 (gRPC)          node  the Node.js SDK nacos-naming 2.6.3 (v1 HTTP)
Per run, against a fresh naming-server (127.0.0.1, free port, pinned to --server-cpu; every client
on --client-cpu), for each client in turn:
  1. change -> listener: an anchor process registers 10.9.0.1:20880 (the list never becomes empty,
     which every client's push-empty protection would rightly hide), a listener process subscribes,
     a toggler process registers (even rounds) or deregisters (odd rounds) 10.9.0.2:20880, --gap-ms
     plus 0..--jitter-ms apart (naming-server merges changes that come within 50 ms of a push).
     Latency = the listener's CLOCK_MONOTONIC on entering its callback with the change - the
     toggler's just before its API call. One change in flight at a time.
  2. SIGKILL -> listener: a provider process registers 10.9.1.N:20880; once the listener has seen
     it, this driver reads CLOCK_MONOTONIC and SIGKILLs the process; latency = until the listener
     sees the instance gone or unhealthy. --kills times over gRPC, --v1-kills times over v1 (where
     it takes the server's heartbeat timeout, 15 s, plus its sweep and push).
Then every client's hold process registers --instances instances over --services services, one
client after the other (the registration time is that client's alone), all hold them together; after
--settle seconds, a --window seconds window: CPU = delta (utime+stime) of /proc/PID/stat, threads =
the most of /proc/PID/status Threads sampled every second, RSS = VmRSS at the end.
Prints one table per run, then the median of every figure over the runs.
"""
import argparse
import json
import math
import os
import queue
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
KINDS = ("grpc", "http", "rust", "node")
LABELS = {
    "grpc": "C++ NamingClient, gRPC",
    "http": "C++ NamingClient, v1 HTTP",
    "rust": "Rust SDK 0.8.0 (gRPC)",
    "node": "Node SDK 2.6.3 (v1 HTTP)",
}
V1 = ("http", "node")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def host_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v[:8]) - v[3] - v[4]  # all but idle and iowait


def quantiles(samples_ns):
    v = sorted(samples_ns)
    if not v:
        return {}
    rank = lambda q: v[min(len(v), max(1, math.ceil(q * len(v)))) - 1] / 1e6  # nearest rank
    return {"n": len(v), "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": v[-1] / 1e6}


class Proc:
    """A child process whose stdout lines are read by a thread into a queue."""

    def __init__(self, name, cmd, log_path, env=None):
        self.name = name
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(log_path, "a"), text=True, env=env, bufsize=1)
        self.pid = self.p.pid
        self.log_path = log_path
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, predicate, timeout):
        """The first line for which predicate(line) is truthy (earlier lines are dropped); None on
        timeout, or when the process ended."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self.lines.put(None)
                return None
            m = predicate(line)
            if m:
                return m

    def must(self, predicate, timeout, what):
        m = self.expect(predicate, timeout)
        if not m:
            with open(self.log_path) as f:
                tail = f.read()[-2000:]
            raise RuntimeError(f"{self.name}: no {what} within {timeout} s (rc {self.p.poll()}); "
                               f"its log ends:\n{tail}")
        return m

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def close(self, wait=10):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
                self.p.wait(wait)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def event_re(sign, address):
    return re.compile(r"^E (\d+) " + re.escape(sign) + " " + re.escape(address) + "$")


class Runner:
    def __init__(self, a):
        self.a = a
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="client-bench.")
        self.taskset = shutil.which("taskset") and os.cpu_count() >= 2
        self.n = 0

    def pin(self, cpu, cmd):
        return (["taskset", "-c", str(cpu)] + cmd) if self.taskset else cmd

    def spawn(self, name, cmd, env=None, cpu=None):
        self.n += 1
        p = Proc(name, self.pin(self.a.client_cpu if cpu is None else cpu, cmd),
                 os.path.join(self.tmp, f"{self.n:03d}-{name}.log"), env)
        self.procs.append(p)
        return p

    def client(self, kind, role, *extra):
        """Starts one client process of `kind` in `role`."""
        home = tempfile.mkdtemp(prefix=f"{kind}-{role}-", dir=self.tmp)
        server = f"127.0.0.1:{self.port}"
        if kind in ("grpc", "http"):
            cmd = [self.a.client_bench, "--role", role, "--server", server, "--protocol", kind,
                   "--cache-dir", os.path.join(home, "cache")]
            env = None
        else:
            cmd = [self.a.node, self.a.sdk_bench, "--sdk", kind, "--role", role, "--server", server]
            env = dict(os.environ, HOME=home)  # The Rust SDK's logs and disk cache.
        return self.spawn(f"{kind}-{role}", cmd + list(extra), env)

    def cleanup(self, keep=False):
        for p in self.procs:
            p.kill()
        if keep:
            log(f"logs of every process kept under {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def quiet(self):
        """Waits (at most --quiet-wait s) until processes other than ours use < --quiet-max % of a
        core; returns what they used."""
        deadline = time.time() + self.a.quiet_wait
        while True:
            ours = [p.pid for p in self.procs if p.p.poll() is None]
            b0, o0 = host_busy_ticks(), sum(safe_ticks(p) for p in ours)
            time.sleep(2)
            b1, o1 = host_busy_ticks(), sum(safe_ticks(p) for p in ours)
            other = max(0, (b1 - b0) - (o1 - o0)) * 100.0 / CLK_TCK / 2
            if other < self.a.quiet_max or time.time() > deadline:
                return other
            log(f"  waiting for a quieter host (other processes use {other:.0f}% of a core)")

    def start_server(self):
        self.server = self.spawn("naming-server", [self.a.server, "--port", "0"], cpu=self.a.server_cpu)
        m = self.server.must(lambda l: re.match(r"^naming-server listening on http://127\.0\.0\.1:(\d+)$", l),
                             10, "listening line")
        self.port = int(m.group(1))
        self.server.must(lambda l: l.startswith("naming-server grpc on"), 10, "gRPC line")

    def get(self, path):
        for attempt in range(3):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                    return json.loads(r.read())
            except OSError as e:
                alive = self.server.p.poll() is None
                log(f"  GET {path}: {e} (naming-server {'alive' if alive else 'exited'})")
                if not alive or attempt == 2:
                    raise
                time.sleep(1)

    def latency(self, kind, run):
        a = self.a
        service = f"providers:org.apache.dubbo.bench.ClientBench{kind.capitalize()}{run}:1.0.0:"
        anchor = self.client(kind, "provider", "--service", service, "--instance", "10.9.0.1:20880")
        anchor.must(lambda l: l == "READY", 60, "READY")
        listener = self.client(kind, "listener", "--service", service)
        # Its first event may come before its READY line.
        listener.must(event_re("+", "10.9.0.1:20880").match, 60, "event for the anchor")
        toggler = self.client(kind, "provider", "--service", service)
        toggler.must(lambda l: l == "READY", 60, "READY")
        self.quiet()
        res = {}
        notify, call = [], []
        lost = failed = lost_in_a_row = 0
        rng = random.Random(12345)
        t_start = time.time()
        b0 = host_busy_ticks()
        for i in range(a.changes):
            time.sleep((a.gap_ms + rng.uniform(0, a.jitter_ms)) / 1000)
            add = i % 2 == 0
            toggler.send(f"{'add' if add else 'remove'} 10.9.0.2 20880")
            t = toggler.must(lambda l: l.split() if l.startswith("T ") else None, 30, "answer")
            t0 = int(t[1])
            call.append(int(t[2]) - t0)
            if t[3] != "ok":
                failed += 1
                log(f"  {kind}: change {i} failed: {' '.join(t[3:])}")
            pattern = event_re("+" if add else "-", "10.9.0.2:20880")
            ev = listener.expect(lambda l: (m := pattern.match(l)) and int(m.group(1)) >= t0 and m,
                                 a.timeout_ms / 1000)
            if ev:
                notify.append(int(ev.group(1)) - t0)
                lost_in_a_row = 0
            else:
                lost += 1
                lost_in_a_row += 1
                log(f"  {kind}: change {i} ({'add' if add else 'remove'}): no event within {a.timeout_ms} ms")
                if lost_in_a_row == 5:
                    raise RuntimeError(f"{kind}: 5 changes in a row lost")
        busy = (host_busy_ticks() - b0) * 100.0 / CLK_TCK / (time.time() - t_start)
        res["change"] = dict(quantiles(notify), lost=lost, failed=failed, changes=a.changes, host_busy_pct=busy)
        res["call"] = quantiles(call)
        log(f"  {kind}: {a.changes} changes in {time.time() - t_start:.0f} s: p50 {res['change'].get('p50', 0):.3f}"
            f" p99 {res['change'].get('p99', 0):.3f} ms, lost {lost}")
        toggler.close()

        kills = a.v1_kills if kind in V1 else a.kills
        timeout = a.v1_kill_timeout if kind in V1 else 10
        gone, missed = [], 0
        for j in range(kills):
            # One address per kill, so that a kill whose removal was missed cannot hide the next.
            address = f"10.9.{1 + j // 250}.{1 + j % 250}:20880"
            victim = self.client(kind, "provider", "--service", service, "--instance", address)
            victim.must(lambda l: l == "READY", 60, "READY")
            listener.must(event_re("+", address).match, 60, "event for the provider")
            time.sleep(0.2)
            pattern = event_re("-", address)
            t0 = time.monotonic_ns()
            os.kill(victim.pid, signal.SIGKILL)
            ev = listener.expect(lambda l: (m := pattern.match(l)) and int(m.group(1)) >= t0 and m, timeout)
            victim.kill()
            if ev:
                gone.append(int(ev.group(1)) - t0)
                if kind in V1:
                    log(f"  {kind}: kill {j + 1}/{kills}: gone after {gone[-1] / 1e6:.0f} ms")
            else:
                missed += 1
                log(f"  {kind}: kill {j}: the listener did not see the instance gone within {timeout} s")
        res["kill"] = dict(quantiles(gone), missed=missed, kills=kills)
        log(f"  {kind}: {kills} kills: p50 {res['kill'].get('p50', 0):.1f} p99 {res['kill'].get('p99', 0):.1f} ms")
        listener.close()
        anchor.close()
        return res

    def overhead(self, kinds):
        a = self.a
        holds, res = {}, {}
        for kind in kinds:
            p = self.client(kind, "hold", "--instances", str(a.instances), "--services", str(a.services),
                            "--threads", str(a.threads), "--prefix", f"Hold{kind.capitalize()}")
            m = p.must(lambda l: re.match(r"^registered (\d+) instances in (\d+) ms$", l), 600, "registration")
            p.must(lambda l: l.startswith("READY"), 10, "READY")
            res[kind] = {"registered": int(m.group(1)), "register_ms": int(m.group(2))}
            log(f"  {kind}: registered {m.group(1)} instances in {m.group(2)} ms")
            holds[kind] = p
        log(f"  settling {a.settle} s, then a {a.window} s window")
        time.sleep(a.settle)
        other_before = self.quiet()
        pids = {k: p.pid for k, p in holds.items()}
        pids["server"] = self.server.pid
        c0 = {k: proc_cpu_ticks(v) for k, v in pids.items()}
        b0 = host_busy_ticks()
        t0 = time.time()
        max_threads = {k: 0 for k in holds}
        while time.time() - t0 < a.window:
            for k in holds:
                max_threads[k] = max(max_threads[k], proc_status(pids[k], "Threads"))
            time.sleep(1)
        elapsed = time.time() - t0
        c1 = {k: proc_cpu_ticks(v) for k, v in pids.items()}
        busy = host_busy_ticks() - b0
        for k in holds:
            res[k].update(threads=max_threads[k], cpu_pct=(c1[k] - c0[k]) * 100.0 / CLK_TCK / elapsed,
                          rss_mb=proc_status(pids[k], "VmRSS") / 1024.0)
        res["server_cpu_pct"] = (c1["server"] - c0["server"]) * 100.0 / CLK_TCK / elapsed
        res["other_cpu_pct"] = max(0, busy - sum(c1[k] - c0[k] for k in pids)) * 100.0 / CLK_TCK / elapsed
        res["other_before_pct"] = other_before
        res["server_instances"] = self.get("/nacos/v1/ns/operator/metrics").get("instanceCount")
        res["server_rss_mb"] = proc_status(self.server.pid, "VmRSS") / 1024.0
        # What the server holds of each client at the end of the window, and how much of it healthy.
        for kind in holds:
            present = healthy = 0
            for s in range(a.services):
                svc = f"DEFAULT_GROUP%40%40providers%3Aorg.apache.dubbo.bench.Hold{kind.capitalize()}{s:04d}%3A1.0.0%3A"
                hosts = self.get(f"/nacos/v1/ns/instance/list?serviceName={svc}")["hosts"]
                present += len(hosts)
                healthy += sum(1 for h in hosts if h.get("healthy"))
            res[kind].update(present=present, healthy=healthy)
        for p in holds.values():
            p.close(wait=30)
        return res

    def run_once(self, i):
        a = self.a
        self.start_server()
        log(f"run {i}: naming-server pid {self.server.pid} on port {self.port}")
        res = {}
        try:
            for kind in a.kinds:
                if not a.skip_latency:
                    log(f"  {kind}: {a.changes} changes, then kills")
                    res[kind] = self.latency(kind, i)
            if not a.skip_overhead:
                log(f"  overhead: {a.instances} instances from each of {', '.join(a.kinds)}")
                res["overhead"] = self.overhead(a.kinds)
            if self.server.p.poll() is not None:
                raise RuntimeError(f"naming-server died during run {i}")
        finally:
            self.server.p.send_signal(signal.SIGTERM)
            try:
                self.server.p.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        return res


def safe_ticks(pid):
    try:
        return proc_cpu_ticks(pid)
    except OSError:
        return 0


def fmt(v, nd=2):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def print_table(title, runs, kinds, a):
    def med(*keys):
        vals = []
        for r in runs:
            v = r
            for k in keys:
                v = v.get(k) if isinstance(v, dict) else None
            if v is not None:
                vals.append(v)
        if not vals:
            return None
        m = statistics.median(vals)
        return round(m) if all(isinstance(v, int) for v in vals) else m  # counts stay counts

    print(f"\n=== {title} ===")
    print(f"{'client':27}| {'change->listener ms':24}| {'SIGKILL->listener ms':26}| {'register':9}| "
          f"{'threads':8}| {'CPU %':7}| {'RSS MB':7}")
    print(f"{'':27}| {'p50 / p99 (n, lost)':24}| {'p50 / p99 (n)':26}| {'ms':9}| {'':8}| {'':7}| {'':7}")
    for k in kinds:
        change = f"{fmt(med(k, 'change', 'p50'))} / {fmt(med(k, 'change', 'p99'))} " \
                 f"({fmt(med(k, 'change', 'n'))}, {fmt(med(k, 'change', 'lost'))})"
        kill = f"{fmt(med(k, 'kill', 'p50'), 1)} / {fmt(med(k, 'kill', 'p99'), 1)} ({fmt(med(k, 'kill', 'n'))})"
        print(f"{LABELS[k]:27}| {change:24}| {kill:26}| {fmt(med('overhead', k, 'register_ms')):9}| "
              f"{fmt(med('overhead', k, 'threads')):8}| {fmt(med('overhead', k, 'cpu_pct')):7}| "
              f"{fmt(med('overhead', k, 'rss_mb'), 1):7}")
    if med("overhead", "server_instances") is not None:
        print(f"hold: {a.instances} instances over {a.services} services per client, registered with "
              f"{a.threads} calls in flight; server held {fmt(med('overhead', 'server_instances'))} instances, "
              f"{fmt(med('overhead', 'server_cpu_pct'), 1)}% CPU, {fmt(med('overhead', 'server_rss_mb'), 1)} MB; "
              f"other processes {fmt(med('overhead', 'other_cpu_pct'), 0)}% of a core in the window")
    for k in kinds:
        if med("overhead", k, "present") is not None:
            print(f"{LABELS[k]}: the server held {fmt(med('overhead', k, 'present'))} of its instances at the end"
                  f" of the window, {fmt(med('overhead', k, 'healthy'))} healthy")
    for k in kinds:
        if med(k, "call", "p50") is not None:
            print(f"{LABELS[k]}: API call ms p50 {fmt(med(k, 'call', 'p50'))} p99 {fmt(med(k, 'call', 'p99'))};"
                  f" change p90 {fmt(med(k, 'change', 'p90'))} max {fmt(med(k, 'change', 'max'))};"
                  f" kill max {fmt(med(k, 'kill', 'max'), 1)} missed {fmt(med(k, 'kill', 'missed'))};"
                  f" host busy {fmt(med(k, 'change', 'host_busy_pct'), 0)}% of a core during the changes")


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--clients", default=",".join(KINDS))
    ap.add_argument("--changes", type=int, default=400)
    ap.add_argument("--gap-ms", type=int, default=60)
    ap.add_argument("--jitter-ms", type=int, default=20)
    ap.add_argument("--timeout-ms", type=int, default=5000)
    ap.add_argument("--kills", type=int, default=30)
    ap.add_argument("--v1-kills", type=int, default=2)
    ap.add_argument("--v1-kill-timeout", type=int, default=90)
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--settle", type=int, default=20)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--quiet-max", type=float, default=30)
    ap.add_argument("--quiet-wait", type=float, default=30)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--json", help="also write every run's figures to this file")
    a = ap.parse_args()
    a.kinds = [k for k in a.clients.split(",") if k]
    if any(k not in KINDS for k in a.kinds):
        sys.exit(f"--clients: a comma-separated subset of {','.join(KINDS)}")
    b = os.path.abspath(a.build_dir)
    a.server = os.path.join(b, "naming-server", "naming-server")
    a.client_bench = os.path.join(b, "bench", "client_bench")
    a.node = shutil.which("node") or shutil.which("nodejs")
    a.sdk_bench = os.path.join(root, "bench", "client", "sdk_bench.js")
    for path in (a.server, a.client_bench):
        if not os.access(path, os.X_OK):
            sys.exit(f"missing {path}: build it first (cmake --build {b} --target naming-server client_bench)")
    modules = os.path.join(root, "tests", "interop", "node_modules")
    if {"rust", "node"} & set(a.kinds) and (not a.node or not os.path.isdir(modules)):
        sys.exit("node or tests/interop/node_modules missing: cd tests/interop && npm ci")
    r = Runner(a)
    runs = []

    def on_signal(signum, frame):
        r.cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ok = False
    try:
        for i in range(1, a.runs + 1):
            runs.append(r.run_once(i))
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(runs, f, indent=1)
            print_table(f"run {i}", runs[-1:], a.kinds, a)
            sys.stdout.flush()
        ok = True
    finally:
        r.cleanup(keep=not ok)
    if len(runs) > 1:
        print_table(f"median of {len(runs)} runs", runs, a.kinds, a)


if __name__ == "__main__":
    main()
