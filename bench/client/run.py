#!/usr/bin/env python3
"""Nacos naming client benchmarks (driver of bench/client/run.sh; see that file for usage).

Per run, against a fresh naming-server (127.0.0.1, free port, pinned to SERVER_CPU):
  1. latency: client_latency_bench (processes A and B pinned to CLIENT_CPU), --changes changes,
     once with the disk cache in a directory on the file system of $TMPDIR (the default cache dir
     is $HOME/nacos/...; a real disk either way) and once with it on /dev/shm (tmpfs, where fsync
     costs nothing), to show what the cache write costs;
  2. overhead: client_overhead_bench and node_overhead.js side by side (both pinned to CLIENT_CPU),
     --instances instances each; once both are READY, --settle seconds, then a --window seconds
     window over which each process's CPU (utime+stime from /proc/PID/stat), threads (max of
     /proc/PID/status Threads, sampled every second) and RSS (VmRSS at the end, and max sampled) are
     taken. The server's CPU and the CPU every other process on the host used ("other CPU", from
     /proc/stat minus ours) over the same window are reported too. At the end of the window the
     server must still hold all 2 x instances, all healthy (beats worked).
Prints one table per run, then the median of every figure over the runs.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def host_busy_ticks():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    v = [int(x) for x in parts]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v[:8]) - idle


def thread_cpu(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[f"{name}/{tid}"] = int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return out


class Runner:
    def __init__(self, args):
        self.args = args
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="client-bench.")
        self.taskset = shutil.which("taskset") and os.cpu_count() >= 2

    def pin(self, cpu, cmd):
        return (["taskset", "-c", str(cpu)] + cmd) if self.taskset else cmd

    def spawn(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.tmp_shm, ignore_errors=True) if hasattr(self, "tmp_shm") else None

    def quiet(self):
        """Waits (bounded) until processes other than ours use < QUIET_MAX % of one core."""
        deadline = time.time() + self.args.quiet_wait
        while True:
            ours = [p.pid for p in self.procs if p.poll() is None]
            b0, o0 = host_busy_ticks(), sum(safe_ticks(p) for p in ours)
            time.sleep(2)
            b1, o1 = host_busy_ticks(), sum(safe_ticks(p) for p in ours)
            other = max(0, (b1 - b0) - (o1 - o0)) * 100.0 / CLK_TCK / 2
            if other < self.args.quiet_max or time.time() > deadline:
                return other
            log(f"  waiting for a quieter host (other processes use {other:.0f}% of a core)")

    def start_server(self):
        server = self.spawn(self.pin(self.args.server_cpu, [self.args.server, "--port", "0"]),
                            stdout=subprocess.PIPE, stderr=open(os.path.join(self.tmp, "server.log"), "a"),
                            text=True)
        line = server.stdout.readline()
        m = re.match(r"^naming-server listening on http://127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            raise RuntimeError(f"naming-server did not start: {line!r}")
        return server, int(m.group(1))

    def get(self, port, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return json.loads(r.read())

    def latency(self, port, cache_root, label):
        os.makedirs(cache_root, exist_ok=True)
        other_before = self.quiet()
        b0 = host_busy_ticks()
        t0 = time.time()
        cmd = self.pin(self.args.client_cpu, [self.args.latency_bench, "--server", f"127.0.0.1:{port}",
                                              "--changes", str(self.args.changes), "--cache-dir", cache_root])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.changes * 0.2 + 120)
        elapsed = time.time() - t0
        if out.returncode != 0:
            log(out.stderr[-2000:])
        # Server CPU cannot be separated here cheaply; "other" includes the server (small).
        busy = (host_busy_ticks() - b0) * 100.0 / CLK_TCK / elapsed
        res = {"label": label, "rc": out.returncode, "host_busy_pct": busy, "quiet_before": other_before}
        for line in out.stdout.splitlines():
            m = re.match(r"changes (\d+)\s+seen (\d+)\s+lost (\d+)\s+failed (\d+)", line)
            if m:
                res.update(changes=int(m.group(1)), seen=int(m.group(2)), lost=int(m.group(3)),
                           failed=int(m.group(4)))
            m = re.match(r"(notify|call)_ms\s+p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+) max ([\d.]+) mean ([\d.]+)", line)
            if m:
                k = m.group(1)
                for i, q in enumerate(["p50", "p90", "p99", "max", "mean"]):
                    res[f"{k}_{q}"] = float(m.group(i + 2))
        return res

    @staticmethod
    def read_beats(p):
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError("a client exited while its beat count was awaited")
            if line.startswith("beats "):
                return int(line.split()[1])

    def overhead(self, port):
        a = self.args
        cpp_cache = os.path.join(self.tmp, "overhead-cache")
        cpp = self.spawn(self.pin(a.client_cpu, [a.overhead_bench, "--server", f"127.0.0.1:{port}",
                                                 "--instances", str(a.instances), "--services", str(a.services),
                                                 "--cache-dir", cpp_cache]),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=open(os.path.join(self.tmp, "cpp.log"), "a"), text=True)
        node = self.spawn(self.pin(a.client_cpu, [a.node, a.node_script, "--server", f"127.0.0.1:{port}",
                                                  "--instances", str(a.instances), "--services", str(a.services)]),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=open(os.path.join(self.tmp, "node.log"), "a"), text=True)
        res = {}
        for name, p in (("cpp", cpp), ("node", node)):
            while True:
                line = p.stdout.readline()
                if not line:
                    with open(os.path.join(self.tmp, f"{name}.log")) as f:
                        tail = f.read()[-3000:]
                    raise RuntimeError(f"{name} exited before READY (rc {p.wait()}); its log ends:\n{tail}")
                m = re.match(r"registered (\d+) instances in (\d+) ms", line)
                if m:
                    res[f"{name}_register_ms"] = int(m.group(2))
                if line.startswith("READY"):
                    break
        log(f"  both READY (register: C++ {res['cpp_register_ms']} ms, Node {res['node_register_ms']} ms);"
            f" settling {a.settle} s, then a {a.window} s window")
        time.sleep(a.settle)
        res["quiet_before"] = self.quiet()
        server_pid = self.server.pid
        pids = {"cpp": cpp.pid, "node": node.pid, "server": server_pid}
        # Beats sent in the window: both programs count them and print the count on SIGUSR2.
        for p in (cpp, node):
            p.send_signal(signal.SIGUSR2)
        cpp_beats0, node_beats0 = self.read_beats(cpp), self.read_beats(node)
        c0 = {k: proc_cpu_ticks(v) for k, v in pids.items()}
        th0 = thread_cpu(cpp.pid)
        b0 = host_busy_ticks()
        t0 = time.time()
        max_threads = {k: 0 for k in ("cpp", "node")}
        max_rss = {k: 0 for k in ("cpp", "node")}
        while time.time() - t0 < a.window:
            for k in ("cpp", "node"):
                max_threads[k] = max(max_threads[k], proc_status(pids[k], "Threads"))
                max_rss[k] = max(max_rss[k], proc_status(pids[k], "VmRSS"))
            time.sleep(1)
        elapsed = time.time() - t0
        c1 = {k: proc_cpu_ticks(v) for k, v in pids.items()}
        for p in (cpp, node):
            p.send_signal(signal.SIGUSR2)
        res["cpp_beats_per_s"] = (self.read_beats(cpp) - cpp_beats0) / elapsed
        res["node_beats_per_s"] = (self.read_beats(node) - node_beats0) / elapsed
        th1 = thread_cpu(cpp.pid)
        busy = host_busy_ticks() - b0
        for k in pids:
            res[f"{k}_cpu_pct"] = (c1[k] - c0[k]) * 100.0 / CLK_TCK / elapsed
        res["other_cpu_pct"] = max(0, busy - sum(c1[k] - c0[k] for k in pids)) * 100.0 / CLK_TCK / elapsed
        for k in ("cpp", "node"):
            res[f"{k}_threads"] = max_threads[k]
            res[f"{k}_rss_mb"] = proc_status(pids[k], "VmRSS") / 1024.0
            res[f"{k}_rss_max_mb"] = max_rss[k] / 1024.0
            res[f"{k}_hwm_mb"] = proc_status(pids[k], "VmHWM") / 1024.0
            res[f"{k}_sockets"] = count_sockets(pids[k])
        res["cpp_thread_cpu"] = {t: round((th1.get(t, 0) - v) * 100.0 / CLK_TCK / elapsed, 2)
                                 for t, v in th0.items()}
        res["server_rss_mb"] = proc_status(server_pid, "VmRSS") / 1024.0
        metrics = self.get(self.port, "/nacos/v1/ns/operator/metrics")
        res["server_instances"] = metrics.get("instanceCount")
        # What the server holds of each side, all healthy if every beat arrived in time.
        for key, prefix in (("cpp", "Overhead"), ("node", "NodeOverhead")):
            present = healthy = 0
            for s in range(a.services):
                svc = f"DEFAULT_GROUP%40%40providers%3Aorg.apache.dubbo.bench.{prefix}{s:04d}%3A1.0.0%3A"
                hosts = self.get(self.port, f"/nacos/v1/ns/instance/list?serviceName={svc}")["hosts"]
                present += len(hosts)
                healthy += sum(1 for h in hosts if h.get("healthy"))
            res[f"{key}_present"] = present
            res[f"{key}_healthy"] = healthy
        for p in (cpp, node):
            p.stdin.close()
        for p in (cpp, node):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        return res

    def run_once(self, i):
        a = self.args
        self.server, self.port = self.start_server()
        log(f"run {i}: naming-server pid {self.server.pid} on port {self.port}")
        res = {}
        try:
            if not a.skip_latency:
                log(f"  latency, disk cache ({self.tmp}): {a.changes} changes")
                res["lat_disk"] = self.latency(self.port, os.path.join(self.tmp, f"lat-disk-{i}"), "disk")
                if os.path.isdir("/dev/shm"):
                    self.tmp_shm = tempfile.mkdtemp(prefix="client-bench.", dir="/dev/shm")
                    log(f"  latency, tmpfs cache ({self.tmp_shm}): {a.changes} changes")
                    res["lat_tmpfs"] = self.latency(self.port, os.path.join(self.tmp_shm, f"lat-{i}"), "tmpfs")
                    shutil.rmtree(self.tmp_shm, ignore_errors=True)
            if not a.skip_overhead:
                log(f"  overhead: {a.instances} instances from C++ and from the Node SDK")
                res["overhead"] = self.overhead(self.port)
            if self.server.poll() is not None:
                raise RuntimeError(f"naming-server died during run {i} (rc {self.server.returncode})")
        finally:
            if self.server.poll() is None:
                self.server.send_signal(signal.SIGTERM)
                try:
                    self.server.wait(10)
                except subprocess.TimeoutExpired:
                    self.server.kill()
        return res


def count_sockets(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # Closed meanwhile.
    return n


def safe_ticks(p):
    try:
        return proc_cpu_ticks(p)
    except OSError:
        return 0


def fmt(v, nd=2):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def print_tables(title, runs):
    print(f"\n=== {title} ===")
    lat_rows = [("lat_disk", "disk cache"), ("lat_tmpfs", "tmpfs cache")]
    for key, label in lat_rows:
        vals = [r[key] for r in runs if key in r]
        if not vals:
            continue
        med = lambda k: statistics.median([v[k] for v in vals if k in v]) if any(k in v for v in vals) else None
        print(f"change-to-notify ({label}): changes {med('changes')} seen {med('seen')} lost {med('lost')}"
              f" | notify ms p50 {fmt(med('notify_p50'))} p90 {fmt(med('notify_p90'))}"
              f" p99 {fmt(med('notify_p99'))} max {fmt(med('notify_max'))}"
              f" | API call ms p50 {fmt(med('call_p50'))} p99 {fmt(med('call_p99'))}"
              f" | host busy {fmt(med('host_busy_pct'), 0)}% of a core")
    vals = [r["overhead"] for r in runs if "overhead" in r]
    if vals:
        med = lambda k: statistics.median([v[k] for v in vals])
        print(f"overhead: C++ register {med('cpp_register_ms')} ms, Node register {med('node_register_ms')} ms;"
              f" server {fmt(med('server_cpu_pct'), 1)}% CPU, {fmt(med('server_rss_mb'), 1)} MB,"
              f" {med('server_instances')} instances; other processes {fmt(med('other_cpu_pct'), 0)}% of a core")
        print(f"{'':10} {'threads':>8} {'CPU % core':>11} {'RSS MB':>8} {'max RSS':>8} {'VmHWM':>8} {'sockets':>8}"
              f" {'on server':>10} {'healthy':>8}")
        for k, label in (("cpp", "C++"), ("node", "Node SDK")):
            print(f"{label:10} {med(k + '_threads'):>8} {fmt(med(k + '_cpu_pct')):>11}"
                  f" {fmt(med(k + '_rss_mb'), 1):>8} {fmt(med(k + '_rss_max_mb'), 1):>8}"
                  f" {fmt(med(k + '_hwm_mb'), 1):>8} {med(k + '_sockets'):>8}"
                  f" {med(k + '_present'):>10} {med(k + '_healthy'):>8}")
        beats = [(v["cpp_beats_per_s"], v["node_beats_per_s"]) for v in vals]
        if all(c is not None for c, _ in beats):
            print(f"beats/s: C++ {fmt(statistics.median(c for c, _ in beats), 0)},"
                  f" Node {fmt(statistics.median(n for _, n in beats), 0)};"
                  f" CPU per beat: C++ {fmt(statistics.median(v['cpp_cpu_pct'] * 1e4 / v['cpp_beats_per_s'] for v in vals), 1)} us,"
                  f" Node {fmt(statistics.median(v['node_cpu_pct'] * 1e4 / v['node_beats_per_s'] for v in vals), 1)} us")
        ratio = lambda k: statistics.median([v["cpp_" + k] / v["node_" + k] for v in vals if v["node_" + k]])
        print(f"{'C++/Node':10} {fmt(ratio('threads')):>8} {fmt(ratio('cpu_pct')):>11} {fmt(ratio('rss_mb')):>8}")
        if len(vals) == 1:
            print(f"C++ per-thread CPU %: {vals[0]['cpp_thread_cpu']}")


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--settle", type=int, default=20)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    ap.add_argument("--quiet-max", type=float, default=30)
    ap.add_argument("--quiet-wait", type=float, default=60)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--json", help="also write every run's figures to this file")
    a = ap.parse_args()
    b = os.path.abspath(a.build_dir)
    a.server = os.path.join(b, "naming-server", "naming-server")
    a.latency_bench = os.path.join(b, "bench", "client_latency_bench")
    a.overhead_bench = os.path.join(b, "bench", "client_overhead_bench")
    a.node = shutil.which("node") or shutil.which("nodejs")
    a.node_script = os.path.join(root, "bench", "client", "node_overhead.js")
    for path in (a.server, a.latency_bench, a.overhead_bench):
        if not os.access(path, os.X_OK):
            sys.exit(f"missing {path}: build it first (cmake --build {b} --target naming-server "
                     f"client_latency_bench client_overhead_bench)")
    if not a.skip_overhead and (not a.node or not os.path.isdir(
            os.path.join(root, "tests", "interop", "node_modules", "nacos-naming"))):
        sys.exit("node or tests/interop/node_modules missing: run `npm ci` in tests/interop")
    r = Runner(a)
    runs = []

    def on_signal(signum, frame):
        r.cleanup()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for i in range(1, a.runs + 1):
            res = r.run_once(i)
            runs.append(res)
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(runs, f, indent=1)
            print_tables(f"run {i}", [res])
            sys.stdout.flush()
    finally:
        r.cleanup()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(runs, f, indent=1)
    if len(runs) > 1:
        print_tables(f"median of {len(runs)} runs", runs)


if __name__ == "__main__":
    main()
