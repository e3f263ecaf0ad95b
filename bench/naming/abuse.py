#!/usr/bin/env python3
"""Abuse soak: legitimate naming traffic at a fixed rate while attackers hammer the same server.

    abuse.py --port PORT [--server-pid PID] [options, see --help]

Driven by abuse.sh, which starts the server; everything here talks to 127.0.0.1:PORT only.

Processes (fork), so that the attackers' work does not delay the legitimate client's (the attackers
also run at a lower priority, nice +10):
  legit     keep-alive connections from 127.0.0.1 send GET /nacos/v1/ns/instance/list and light
            beats at a fixed rate (open loop: a request's latency is counted from the moment it
            was due, so a stall shows in every request queued behind it). Each connection is
            replaced after --recycle requests, as client pools do, so the run also needs new
            connections to be accepted. Every latency and every failure (no answer within
            --timeout, a closed or refused connection, a status other than 200) is recorded.
  flood     after --warmup seconds, for --duration seconds: --slowloris connections from
            --slowloris-source that send a request head one byte every --slow-interval seconds
            (never finishing it; reopened when the server closes them), and --idle connections
            that send nothing, spread over 127.1.x.y with --per-source connections per address
            (opened at --idle-rate per second; reopened at that rate when the server closes them).
  holders   over the same window: --slow-readers connections from 127.3.x.y that request the list
            answer of BIG_SERVICE (--big-instances persistent instances with
            --big-metadata-bytes of metadata each, registered first) with a 4 KiB receive buffer
            and never read, and --midbody connections from 127.4.x.y that send a head announcing a
            1 MiB body and nothing more; opened at --hold-rate per second, reopened when closed.
  oversize  over the same window, every --oversize-interval seconds: a 2 MiB body (413 expected),
            a 64 KiB header (431), and a service name near the body limit (400 expected once names
            are capped).
The attacker processes may be pinned to another core than the legitimate client (--attack-cpu;
abuse.sh puts them next to the server by default, at their lower priority). Every child dies with
the main process. The main process samples the server's resident memory and open descriptors once
a second (--server-pid), reads /nacos/actuator/prometheus 2 s before the attack ends and after the
cool-down, and prints the summary; with --json it also writes every figure, and every legitimate
request's latency or failure, as one JSON object.
"""
import argparse
import ctypes
import errno
import json
import multiprocessing
import os
import resource
import select
import selectors
import signal
import socket
import sys
import time
import urllib.parse

UA = "Nacos-Java-Client:v1.4.8"
SERVICE = "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.AbuseService:1.0.0:"
# The service whose list answer the slow readers request: --big-instances persistent instances
# (no beats needed) with --big-metadata-bytes of metadata each.
BIG_SERVICE = "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.BigService:1.0.0:"


def die_with_parent():
    """A forked child gets SIGTERM when the main process dies, however it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def spread_sources(octet, count, per_source):
    """Source addresses for `count` connections, at most per_source from each: 127.<octet>.x.y
    (Linux routes all of 127/8 to lo), so that the server's per-peer cap does not stop them."""
    n = max(1, -(-count // max(1, per_source)))
    return ["127.%d.%d.%d" % (octet, i // 254, i % 254 + 1) for i in range(n)]


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def request_bytes(method, path, body=b"", extra_headers=""):
    head = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: %s\r\n%s" % (method, path, UA,
                                                                         extra_headers)
    if body or method in ("POST", "PUT"):
        head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n" % len(body)
    return (head + "\r\n").encode() + body


def instance_ip(i):
    return "10.77.0.%d" % (i + 1)


def list_request(service=SERVICE):
    query = urllib.parse.urlencode([("serviceName", service), ("clusters", ""),
                                    ("healthyOnly", "false")], quote_via=urllib.parse.quote)
    return request_bytes("GET", "/nacos/v1/ns/instance/list?" + query)


def beat_request(i):
    query = urllib.parse.urlencode([("serviceName", SERVICE), ("ip", instance_ip(i)),
                                    ("port", "20880")], quote_via=urllib.parse.quote)
    return request_bytes("PUT", "/nacos/v1/ns/instance/beat?" + query)


def parse_response(buf):
    """(status, total_length, close) of the first complete response in buf, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return (-1, len(buf), True)
    length = 0
    close = False
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if len(buf) < end + 4 + length:
        return None
    return (status, end + 4 + length, close)


def simple_exchange(port, raw, source="127.0.0.1", timeout=10.0):
    """Sends raw on a fresh connection, reading meanwhile (a server may answer before it has taken
    the whole request, then close); returns the status of the answer, 0 if none came."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + timeout
    try:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        view = memoryview(raw)
        buf = b""
        while time.monotonic() < deadline:
            for _, events in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                if events & selectors.EVENT_READ:
                    chunk = s.recv(65536)
                    if not chunk:
                        return 0
                    buf += chunk
                    parsed = parse_response(buf)
                    if parsed:
                        return parsed[0]
                if events & selectors.EVENT_WRITE and view:
                    try:
                        view = view[s.send(view[:65536]):]
                    except OSError:
                        view = view[:0]
                    if not view:
                        sel.modify(s, selectors.EVENT_READ)
        return 0
    except OSError:
        return 0
    finally:
        sel.close()
        s.close()


# ------------------------------------------------------------------------------------------------
# The legitimate client.

class LegitConn:
    def __init__(self):
        self.sock = None
        self.state = "closed"  # closed, connecting, idle, busy
        self.buf = b""
        self.kind = None
        self.due = 0.0
        self.sent = 0.0
        self.served = 0


def legit(args, start, phases, out):
    die_with_parent()
    # select(2) takes its timeout in microseconds, epoll and poll in whole milliseconds (rounded
    # up), which would make every request wait up to a millisecond past its due time.
    sel = selectors.SelectSelector()
    conns = [LegitConn() for _ in range(args.conns)]
    list_req = list_request()
    beat_reqs = [beat_request(i) for i in range(args.instances)]
    records = []  # (due, sent, done, kind) of every answered request
    failures = []  # (due, kind, reason)
    queue = []  # (due, kind) waiting for an idle connection
    total_rate = args.rate + args.beat_rate
    interval = 1.0 / total_rate
    end = start + phases[-1][2]
    next_due = start
    seq = 0
    beat_seq = 0
    connects = 0

    def open_conn(c):
        nonlocal connects
        c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sock.setblocking(False)
        c.buf = b""
        c.served = 0
        connects += 1
        c.sock.bind(("127.0.0.1", 0))
        rc = c.sock.connect_ex(("127.0.0.1", args.port))
        if rc not in (0, errno.EINPROGRESS):
            c.sock.close()
            c.sock = None
            c.state = "closed"
            return "connect: " + errno.errorcode.get(rc, str(rc))
        c.state = "connecting" if rc else "idle"
        c.since = time.monotonic()
        sel.register(c.sock, selectors.EVENT_WRITE if rc else selectors.EVENT_READ, c)
        return None

    def close_conn(c):
        if c.sock is not None:
            sel.unregister(c.sock)
            c.sock.close()
        c.sock = None
        c.state = "closed"

    def fail(c, reason):
        if c.state == "busy":
            failures.append((c.due, c.kind, reason))
        close_conn(c)

    while True:
        now = time.monotonic()
        if now >= end and not any(c.state == "busy" for c in conns):
            break
        while next_due <= now and next_due < end:
            # Beats interleaved evenly among the list requests.
            if int((seq + 1) * args.beat_rate / total_rate) > int(seq * args.beat_rate / total_rate):
                queue.append((next_due, "beat"))
            else:
                queue.append((next_due, "list"))
            seq += 1
            next_due = start + seq * interval
        # A closed connection is reopened when a request waits for it (not in a loop: a server
        # that closes new connections at once would be met with a connect storm).
        spare = sum(1 for c in conns if c.state in ("idle", "connecting"))
        for c in conns:
            if c.state == "closed" and now < end and len(queue) > spare:
                spare += 1
                reason = open_conn(c)
                if reason is not None and queue:
                    due, kind = queue.pop(0)
                    failures.append((due, kind, reason))
            if c.state == "busy" and now - c.sent > args.timeout:
                fail(c, "timeout")
            if c.state == "connecting" and now - c.since > args.timeout:
                if queue:
                    due, kind = queue.pop(0)
                    failures.append((due, kind, "connect: timeout"))
                close_conn(c)
        for c in conns:
            if not queue:
                break
            if c.state != "idle":
                continue
            due, kind = queue.pop(0)
            if kind == "beat":
                raw = beat_reqs[beat_seq % len(beat_reqs)]
                beat_seq += 1
            else:
                raw = list_req
            c.kind, c.due, c.sent = kind, due, time.monotonic()
            c.state = "busy"
            try:
                c.sock.send(raw)  # A few hundred bytes: fits the empty socket buffer.
            except OSError as e:
                fail(c, "send: " + (errno.errorcode.get(e.errno, str(e.errno))))
        wait = max(0.0, min(next_due, end) - time.monotonic())
        if queue and any(c.state == "idle" for c in conns):
            wait = 0.0
        for key, _ in sel.select(timeout=min(wait, 0.05)):
            c = key.data
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    if queue:
                        due, kind = queue.pop(0)
                        failures.append((due, kind, "connect: " + errno.errorcode.get(err, str(err))))
                    close_conn(c)
                else:
                    c.state = "idle"
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                continue
            try:
                chunk = c.sock.recv(65536)
            except OSError as e:
                fail(c, "recv: " + errno.errorcode.get(e.errno, str(e.errno)))
                continue
            if not chunk:
                fail(c, "closed by server" if c.state == "busy" else "closed idle")
                continue
            if c.state != "busy":
                close_conn(c)  # Unrequested bytes: start afresh.
                continue
            c.buf += chunk
            parsed = parse_response(c.buf)
            if parsed is None:
                continue
            status, length, close = parsed
            done = time.monotonic()
            if status != 200:
                failures.append((c.due, c.kind, "status %d" % status))
            elif c.kind == "beat" and b'"code":20404' in c.buf[:length]:
                # Answered, but the server no longer knows the instance: it was expired.
                failures.append((c.due, c.kind, "beat: instance unknown (20404)"))
            else:
                records.append((c.due, c.sent, done, c.kind))
            c.buf = c.buf[length:]
            c.served += 1
            c.state = "idle"
            if close or c.served >= args.recycle:
                close_conn(c)
    for c in conns:
        close_conn(c)
    for due, kind in queue:
        failures.append((due, kind, "not sent by the end"))
    out.put(("legit", {"records": records, "failures": failures, "connects": connects}))


# ------------------------------------------------------------------------------------------------
# Attackers.

SLOW_HEAD = (b"GET /nacos/v1/ns/instance/list?serviceName=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             b"X-Slow: ")


def attacker_setup(args):
    die_with_parent()
    os.nice(10)
    if args.attack_cpu is not None:
        os.sched_setaffinity(0, {args.attack_cpu})


def flood(args, attack_start, attack_end, out):
    attacker_setup(args)
    sel = selectors.DefaultSelector()
    stats = {"slowloris_opened": 0, "slowloris_closed_by_server": 0, "slowloris_bytes": 0,
             "slowloris_connect_errors": 0, "idle_opened": 0, "idle_closed_by_server": 0,
             "idle_connect_errors": {}, "idle_peak_open": 0, "slowloris_peak_open": 0}
    slow = {}  # fd -> [sock, bytes sent, next send time]
    idle = {}  # fd -> sock
    idle_sources = spread_sources(1, args.idle, args.per_source)
    time.sleep(max(0.0, attack_start - time.monotonic()))

    def connect(source):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((source, 0))
        except OSError:
            s.close()
            raise
        rc = s.connect_ex(("127.0.0.1", args.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(rc, errno.errorcode.get(rc, str(rc)))
        return s

    def open_slow(now, phase):
        try:
            s = connect(args.slowloris_source)
        except OSError:
            stats["slowloris_connect_errors"] += 1
            return
        stats["slowloris_opened"] += 1
        # Staggered over the interval: a steady trickle of single bytes.
        slow[s.fileno()] = [s, 0, now + phase]
        sel.register(s, selectors.EVENT_READ, "slow")

    now = time.monotonic()
    for i in range(args.slowloris):
        open_slow(now, args.slow_interval * i / max(1, args.slowloris))
    # Reopening is paced: idle connections at --idle-rate, slowloris ones at one interval's worth
    # per interval, so that a server that closes them at once is not answered by a connect storm.
    idle_budget = slow_budget = 0.0
    slow_rate = args.slowloris / args.slow_interval
    last = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= attack_end:
            break
        idle_budget = min(idle_budget + (now - last) * args.idle_rate, max(1.0, args.idle_rate / 10))
        slow_budget = min(slow_budget + (now - last) * slow_rate, max(1.0, slow_rate))
        last = now
        while len(idle) < args.idle and idle_budget >= 1:
            idle_budget -= 1
            try:
                s = connect(idle_sources[stats["idle_opened"] % len(idle_sources)])
            except OSError as e:
                name = errno.errorcode.get(e.errno, str(e.errno))
                stats["idle_connect_errors"][name] = stats["idle_connect_errors"].get(name, 0) + 1
                break
            idle[s.fileno()] = s
            stats["idle_opened"] += 1
            sel.register(s, selectors.EVENT_READ, "idle")
        stats["idle_peak_open"] = max(stats["idle_peak_open"], len(idle))
        while len(slow) < args.slowloris and slow_budget >= 1:
            slow_budget -= 1
            open_slow(now, 0.0)
        stats["slowloris_peak_open"] = max(stats["slowloris_peak_open"], len(slow))
        # One byte per slowloris connection per interval.
        next_send = now + 1.0
        for entry in slow.values():
            s, sent, at = entry
            if at <= now:
                byte = SLOW_HEAD[sent:sent + 1] if sent < len(SLOW_HEAD) else b"a"
                try:
                    s.send(byte)
                    entry[1] += 1
                    stats["slowloris_bytes"] += 1
                except OSError:
                    pass  # Not connected yet, or closed: the read side notices.
                entry[2] = at + args.slow_interval
            next_send = min(next_send, entry[2])
        wait = max(0.0, min(next_send, attack_end) - time.monotonic())
        if len(idle) < args.idle or len(slow) < args.slowloris:
            wait = min(wait, 0.01)
        for key, _ in sel.select(timeout=wait):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                continue  # An answer (a 408 or 431, say); the close follows.
            sel.unregister(s)
            fd = s.fileno()
            if key.data == "slow":
                slow.pop(fd, None)
                stats["slowloris_closed_by_server"] += 1
            else:
                idle.pop(fd, None)
                stats["idle_closed_by_server"] += 1
            s.close()
    for s in [e[0] for e in slow.values()] + list(idle.values()):
        s.close()
    out.put(("flood", stats))


def holders(args, attack_start, attack_end, out):
    """Connections the server may not evict: slow readers (a request for BIG_SERVICE's list answer,
    a 4 KiB receive buffer, never read) and mid-body holders (a head announcing a 1 MiB body, then
    nothing). Opened at --hold-rate per second; one the server closes is reopened at that rate."""
    attacker_setup(args)
    ep = select.epoll()
    kinds = {
        "slow_reader": {"target": args.slow_readers, "payload": list_request(BIG_SERVICE),
                        "sources": spread_sources(3, args.slow_readers, args.per_source)},
        "midbody": {"target": args.midbody,
                    "payload": ("POST /nacos/v1/ns/instance HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "User-Agent: %s\r\nContent-Type: application/x-www-form-"
                                "urlencoded\r\nContent-Length: %d\r\n\r\n" %
                                (UA, 1 << 20)).encode(),
                    "sources": spread_sources(4, args.midbody, args.per_source)},
    }
    stats = {}
    for name in kinds:
        stats[name] = {"opened": 0, "closed_by_server": 0, "peak_open": 0, "answers": {},
                       "connect_errors": {}}
    conns = {}  # fd -> [sock, kind, sent]
    open_count = {name: 0 for name in kinds}
    time.sleep(max(0.0, attack_start - time.monotonic()))

    def open_one(name):
        kind, st = kinds[name], stats[name]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if name == "slow_reader":
            # Set before connecting, so that the window the server sees stays small.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        try:
            s.bind((kind["sources"][st["opened"] % len(kind["sources"])], 0))
            rc = s.connect_ex(("127.0.0.1", args.port))
        except OSError as e:
            rc = e.errno
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            code = errno.errorcode.get(rc, str(rc))
            st["connect_errors"][code] = st["connect_errors"].get(code, 0) + 1
            return False
        st["opened"] += 1
        open_count[name] += 1
        conns[s.fileno()] = [s, name, False]
        ep.register(s.fileno(), select.EPOLLOUT | select.EPOLLRDHUP)
        return True

    def closed(fd):
        s, name, _ = conns.pop(fd)
        ep.unregister(fd)
        s.close()
        open_count[name] -= 1
        stats[name]["closed_by_server"] += 1

    def read_answer(s, name):
        """Reads what the server sent and counts its status; False at the end of the stream."""
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        parsed = parse_response(data) if data else None
        if parsed:
            code = str(parsed[0])
            stats[name]["answers"][code] = stats[name]["answers"].get(code, 0) + 1
        return bool(data)

    budget = 0.0
    last = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= attack_end:
            break
        budget = min(budget + (now - last) * args.hold_rate, max(1.0, args.hold_rate / 10))
        last = now
        for name in kinds:
            while open_count[name] < kinds[name]["target"] and budget >= 1:
                budget -= 1
                if not open_one(name):
                    break
            stats[name]["peak_open"] = max(stats[name]["peak_open"], open_count[name])
        short = any(open_count[name] < kinds[name]["target"] for name in kinds)
        wait = min(0.01 if short else 0.5, max(0.0, attack_end - time.monotonic()))
        for fd, events in ep.poll(wait):
            entry = conns.get(fd)
            if entry is None:
                continue
            s, name, sent = entry
            if events & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                if name == "midbody":  # An answer (a 408, say) may precede the close.
                    read_answer(s, name)
                closed(fd)
                continue
            if events & select.EPOLLOUT and not sent:
                try:
                    s.send(kinds[name]["payload"])
                except OSError:
                    closed(fd)
                    continue
                entry[2] = True
                # Slow readers never read: only a close or reset is watched. Mid-body holders
                # read an answer, which comes only with the close.
                ep.modify(fd, select.EPOLLRDHUP | (select.EPOLLIN if name == "midbody" else 0))
            elif events & select.EPOLLIN and not read_answer(s, name):
                closed(fd)
    for s, _, _ in conns.values():
        s.close()
    ep.close()
    out.put(("holders", stats))


def oversize(args, attack_start, attack_end, out):
    attacker_setup(args)
    body_2mb = b"serviceName=x&ip=10.0.0.1&port=1&app=" + b"a" * (2 << 20)
    big_header = request_bytes("GET", "/nacos/v1/ns/instance/list?serviceName=x",
                               extra_headers="X-Filler: %s\r\n" % ("b" * (64 << 10)))
    huge_name = request_bytes("POST", "/nacos/v1/ns/instance",
                              b"serviceName=" + b"n" * (1000 << 10) + b"&ip=10.0.0.2&port=1")
    kinds = [("body_2mb", request_bytes("POST", "/nacos/v1/ns/instance", body_2mb)),
             ("header_64k", big_header),
             ("service_name_1000k", huge_name)]
    stats = {name: {} for name, _ in kinds}
    time.sleep(max(0.0, attack_start - time.monotonic()))
    next_at = time.monotonic()
    while time.monotonic() < attack_end:
        for name, raw in kinds:
            status = str(simple_exchange(args.port, raw, source=args.oversize_source))
            stats[name][status] = stats[name].get(status, 0) + 1
        next_at += args.oversize_interval
        time.sleep(max(0.0, min(next_at, attack_end) - time.monotonic()))
    out.put(("oversize", stats))


# ------------------------------------------------------------------------------------------------

def register_instances(port, count, service=SERVICE, ephemeral=True, metadata_bytes=0):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        for i in range(count):
            params = [("serviceName", service), ("ip", instance_ip(i)), ("port", "20880"),
                      ("ephemeral", "true" if ephemeral else "false")]
            if metadata_bytes:
                params.append(("metadata", json.dumps({"filler": "m" * (metadata_bytes - 6)})))
            body = urllib.parse.urlencode(params, quote_via=urllib.parse.quote).encode()
            s.sendall(request_bytes("POST", "/nacos/v1/ns/instance", body))
            buf = b""
            while parse_response(buf) is None:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("server closed during registration")
                buf += chunk
            status = parse_response(buf)[0]
            if status != 200:
                raise RuntimeError("registration answered %d" % status)
    finally:
        s.close()


def fetch(port, path):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(request_bytes("GET", path, extra_headers="Connection: close\r\n"))
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        parsed = parse_response(buf)
        if parsed is None:
            return None, None
        head_end = buf.find(b"\r\n\r\n")
        return parsed[0], buf[head_end + 4:parsed[1]].decode("utf-8", "replace")
    except OSError:
        return None, None


PROMETHEUS_PATH = "/nacos/actuator/prometheus"


def fetch_prometheus(port):
    """{"status": HTTP status or None, "samples": {"name{labels}": value}} of the metrics endpoint."""
    status, body = fetch(port, PROMETHEUS_PATH)
    samples = {}
    if status == 200:
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                samples[name] = float(value)
            except ValueError:
                pass
    return {"status": status, "samples": samples}


# The reasons of naming_server_rejects_total the attacks make the server count, with the attacks
# that cause each (the server counts by reason, not by attacker), for the report.
ATTACK_REASONS = [
    ("evicted", "idle flood, slowloris (waiting for a head: evictable)"),
    ("connection_cap", "any new connection while nothing can be evicted"),
    ("peer_connection_cap", "any source address past its per-peer cap"),
    ("head_timeout", "idle flood, slowloris (no whole head within the head deadline)"),
    ("idle_timeout", "slow readers (answer not read), idle keep-alive connections"),
    ("body_too_slow", "mid-body holders"),
    ("body_too_large", "oversized: 2 MiB body"),
    ("head_too_large", "oversized: 64 KiB header"),
    ("service_name_too_long", "oversized: 1000 KiB service name"),
]


def proc_sample(pid):
    try:
        rss = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return rss, fds, ticks
    except OSError:
        return None


def busy_ticks():
    """user+nice+system ticks of all CPUs (irq time left out: our loopback traffic lands there)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def wait_quiet(server_pid, quiet_max, quiet_wait):
    """Waits (up to quiet_wait s) until processes other than the server use at most quiet_max % of
    one core over a second, so that a run does not measure someone else's build."""
    hz = os.sysconf("SC_CLK_TCK")
    waited = 0
    while True:
        b0 = busy_ticks()
        s0 = proc_sample(server_pid)[2] if server_pid and proc_sample(server_pid) else 0
        time.sleep(1)
        s1 = proc_sample(server_pid)[2] if server_pid and proc_sample(server_pid) else 0
        pct = ((busy_ticks() - b0) - (s1 - s0)) * 100 // hz
        if pct <= quiet_max:
            return
        if waited >= quiet_wait:
            print("abuse.py: machine still busy (%d%% of a core used by others); measuring anyway"
                  % pct, file=sys.stderr)
            return
        if waited == 0:
            print("abuse.py: waiting for other load to settle (%d%% of a core busy)" % pct,
                  file=sys.stderr)
        waited += 1


def summarize(records, failures, lo, hi):
    sel = [r for r in records if lo <= r[0] < hi]
    due = sorted((r[2] - r[0]) * 1000 for r in sel)
    sent = sorted((r[2] - r[1]) * 1000 for r in sel)
    fails = [f for f in failures if lo <= f[0] < hi]
    reasons = {}
    for _, _, reason in fails:
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"answered": len(sel), "failures": len(fails), "failure_reasons": reasons,
            "p50_ms": percentile(due, 50), "p99_ms": percentile(due, 99),
            "max_ms": due[-1] if due else float("nan"),
            "send_p50_ms": percentile(sent, 50), "send_p99_ms": percentile(sent, 99),
            "send_max_ms": sent[-1] if sent else float("nan")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--rate", type=float, default=500, help="list requests per second")
    p.add_argument("--beat-rate", type=float, default=100, help="light beats per second")
    p.add_argument("--instances", type=int, default=20, help="instances registered and beating")
    p.add_argument("--conns", type=int, default=8, help="legitimate keep-alive connections")
    p.add_argument("--recycle", type=int, default=200, help="requests per legitimate connection")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds before a request fails")
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--duration", type=float, default=60, help="seconds under attack")
    p.add_argument("--cooldown", type=float, default=5)
    p.add_argument("--slowloris", type=int, default=200)
    p.add_argument("--slow-interval", type=float, default=5.0)
    p.add_argument("--slowloris-source", default="127.0.0.3")
    p.add_argument("--idle", type=int, default=10000)
    p.add_argument("--idle-rate", type=float, default=2000)
    p.add_argument("--idle-source-count", type=int, default=0,
                   help="spread the idle flood over this many addresses 127.1.x.y (0: enough for "
                        "--per-source each)")
    p.add_argument("--per-source", type=int, default=250,
                   help="connections per source address of the idle flood, slow readers and "
                        "mid-body holders (below the server's per-peer cap, 1000 by default)")
    p.add_argument("--slow-readers", type=int, default=50,
                   help="connections that request the big list answer and never read (127.3.x.y)")
    p.add_argument("--big-instances", type=int, default=250)
    p.add_argument("--big-metadata-bytes", type=int, default=12000)
    p.add_argument("--midbody", type=int, default=1000,
                   help="connections that announce a 1 MiB body and send none (127.4.x.y)")
    p.add_argument("--hold-rate", type=float, default=500,
                   help="slow readers and mid-body holders opened per second")
    p.add_argument("--oversize-interval", type=float, default=2.0)
    p.add_argument("--oversize-source", default="127.0.0.4")
    p.add_argument("--attack-cpu", type=int, help="core for the attackers (default: inherited)")
    p.add_argument("--metrics-path", action="append",
                   help="server endpoints printed at the end (repeatable)")
    p.add_argument("--quiet-max", type=int, default=15,
                   help="wait until others use at most this %% of a core before starting")
    p.add_argument("--quiet-wait", type=int, default=180, help="... but at most this many seconds")
    p.add_argument("--json", help="also write every figure to this file")
    args = p.parse_args()
    nofile = raise_nofile()
    if max(args.idle + args.slowloris, args.slow_readers + args.midbody) + 64 > nofile:
        print("abuse.py: RLIMIT_NOFILE %d is below --idle + --slowloris or --slow-readers + "
              "--midbody; raise ulimit -n" % nofile, file=sys.stderr)
        return 2

    if args.idle_source_count > 0:
        args.per_source = max(1, -(-args.idle // args.idle_source_count))
    wait_quiet(args.server_pid, args.quiet_max, args.quiet_wait)
    # After the wait: the instances expire 30 s after registration without beats.
    register_instances(args.port, args.instances)
    if args.slow_readers:
        register_instances(args.port, args.big_instances, service=BIG_SERVICE, ephemeral=False,
                           metadata_bytes=args.big_metadata_bytes)
        status, body = fetch(args.port, "/nacos/v1/ns/instance/list?serviceName=" +
                             urllib.parse.quote(BIG_SERVICE, safe=""))
        args.big_answer_bytes = len(body.encode()) if status == 200 else 0
        if status != 200:
            print("abuse.py: the big list answer is refused (status %s)" % status, file=sys.stderr)
            return 1
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start = time.monotonic() + 1.0
    attack_start = start + args.warmup
    attack_end = attack_start + args.duration
    phases = [("warm-up", 0.0, args.warmup),
              ("under attack", args.warmup, args.warmup + args.duration),
              ("cool-down", args.warmup + args.duration, args.warmup + args.duration + args.cooldown)]
    procs = [ctx.Process(target=legit, args=(args, start, phases, out), name="legit"),
             ctx.Process(target=flood, args=(args, attack_start, attack_end, out), name="flood"),
             ctx.Process(target=holders, args=(args, attack_start, attack_end, out),
                         name="holders"),
             ctx.Process(target=oversize, args=(args, attack_start, attack_end, out),
                         name="oversize")]
    # SIGTERM (abuse.sh's clean-up) ends the children too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args, procs, out, start, phases)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()


def run(args, procs, out, start, phases):
    busy0, ours0, wall0 = busy_ticks(), os.times(), time.monotonic()
    server0 = proc_sample(args.server_pid) if args.server_pid else None
    for proc in procs:
        proc.start()

    samples = []  # (t, rss_kb, fds, cpu ticks)
    results = {}
    deadline = start + phases[-1][2] + args.timeout + 60
    # The server's counters 2 s before the attack ends (connections still held), on a new
    # connection from 127.0.0.1 (which the server may refuse: that shows too).
    attack_sample_at = start + phases[1][2] - 2.0
    prometheus = {}
    while len(results) < len(procs) and time.monotonic() < deadline:
        if "under attack" not in prometheus and time.monotonic() >= attack_sample_at:
            prometheus["under attack"] = fetch_prometheus(args.port)
        if args.server_pid:
            sample = proc_sample(args.server_pid)
            if sample:
                samples.append((time.monotonic(),) + sample)
        try:
            name, value = out.get(timeout=1.0)
            results[name] = value
        except Exception:  # queue.Empty
            pass
        if any(proc.exitcode not in (None, 0) for proc in procs):
            break
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
    hz = os.sysconf("SC_CLK_TCK")
    busy1, ours1, wall1 = busy_ticks(), os.times(), time.monotonic()
    server1 = proc_sample(args.server_pid) if args.server_pid else None
    server_ticks = server1[2] - server0[2] if server0 and server1 else 0
    ours = (ours1.children_user + ours1.children_system + ours1.user + ours1.system -
            ours0.children_user - ours0.children_system - ours0.user - ours0.system)
    cpu = {"server": server_ticks * 100.0 / hz / (wall1 - wall0),
           "clients": ours * 100.0 / (wall1 - wall0),
           "others": max(0.0, ((busy1 - busy0) - server_ticks) * 100.0 / hz / (wall1 - wall0) -
                         ours * 100.0 / (wall1 - wall0))}
    prometheus["end"] = fetch_prometheus(args.port)
    missing = [proc.name for proc in procs if proc.name not in results]
    if missing:
        print("abuse.py: no result from %s" % ", ".join(missing), file=sys.stderr)
        return 1

    lg = results["legit"]
    records, failures = lg["records"], lg["failures"]
    report = {"whole run": summarize(records, failures, start, start + phases[-1][2])}
    for name, lo, hi in phases:
        report[name] = summarize(records, failures, start + lo, start + hi)
    elapsed = phases[-1][2]
    print("legitimate traffic: %.0f list + %.0f beat req/s from 127.0.0.1 on %d keep-alive "
          "connections (each replaced after %d requests; %d connections opened), %.0f s "
          "(%.0f warm-up, %.0f under attack, %.0f cool-down); latency from the moment each "
          "request was due" % (args.rate, args.beat_rate, args.conns, args.recycle, lg["connects"],
                               elapsed, args.warmup, args.duration, args.cooldown))
    for name in ["whole run"] + [ph[0] for ph in phases]:
        r = report[name]
        print("  %-13s answered %6d  failures %5d  p50 %6.2f ms  p99 %7.2f ms  max %8.2f ms"
              "  (send->answer p99 %.2f ms, max %.2f ms)%s" %
              (name, r["answered"], r["failures"], r["p50_ms"], r["p99_ms"], r["max_ms"],
               r["send_p99_ms"], r["send_max_ms"],
               ("  " + json.dumps(r["failure_reasons"], sort_keys=True))
               if r["failure_reasons"] else ""))
    fl = results["flood"]
    print("slowloris: %d connections from %s, one byte each every %.0f s: %d opened, %d closed by "
          "the server, %d bytes sent, at most %d open" %
          (args.slowloris, args.slowloris_source, args.slow_interval, fl["slowloris_opened"],
           fl["slowloris_closed_by_server"], fl["slowloris_bytes"], fl["slowloris_peak_open"]))
    idle_sources = spread_sources(1, args.idle, args.per_source)
    print("idle flood: up to %d connections from %d addresses (%s-%s) at %.0f/s: %d opened, %d "
          "closed by the server, at most %d open, connect errors %s" %
          (args.idle, len(idle_sources), idle_sources[0], idle_sources[-1], args.idle_rate,
           fl["idle_opened"], fl["idle_closed_by_server"], fl["idle_peak_open"],
           json.dumps(fl["idle_connect_errors"], sort_keys=True)))
    hd = results["holders"]
    for name, label, what in [
            ("slow_reader", "slow readers",
             "GET the %d-byte list answer of %d instances, 4 KiB receive buffer, never read" %
             (getattr(args, "big_answer_bytes", 0), args.big_instances)),
            ("midbody", "mid-body holders", "a head with Content-Length: 1048576, then nothing")]:
        st = hd[name]
        target = args.slow_readers if name == "slow_reader" else args.midbody
        print("%s: %d connections (%s): %d opened, %d closed by the server, at most %d open, "
              "answers %s, connect errors %s" %
              (label, target, what, st["opened"], st["closed_by_server"], st["peak_open"],
               json.dumps(st["answers"], sort_keys=True),
               json.dumps(st["connect_errors"], sort_keys=True)))
    print("oversized requests from %s (HTTP status: count; 0 = no answer): %s" %
          (args.oversize_source, json.dumps(results["oversize"], sort_keys=True)))
    print("server counters (%s), 2 s before the attack ended -> after the cool-down:" %
          PROMETHEUS_PATH)
    during, after = prometheus["under attack"], prometheus["end"]
    for when, sample in (("2 s before the end of the attack", during), ("at the end", after)):
        if sample["status"] != 200:
            print("  %s: %s" % (when, "no answer" if sample["status"] is None
                                else "status %d" % sample["status"]))

    def value(sample, name):
        v = sample["samples"].get(name)
        return "-" if v is None else "%d" % v

    for name in ["naming_server_connections", "naming_server_connections_accepted_total",
                 "naming_server_http_requests_total", "naming_server_bytes_held"]:
        print("  %-44s %10s -> %10s" % (name, value(during, name), value(after, name)))
    for reason, attacks in ATTACK_REASONS:
        name = 'naming_server_rejects_total{reason="%s"}' % reason
        print("  %-44s %10s -> %10s   %s" % (reason, value(during, name), value(after, name),
                                             attacks))
    listed = {reason for reason, _ in ATTACK_REASONS}
    others = sorted(k for k, v in after["samples"].items()
                    if k.startswith("naming_server_rejects_total{") and v and
                    k.split('"')[1] not in listed)
    for name in others:
        print("  %-44s %10s -> %10s" % (name, value(during, name), value(after, name)))
    server = {"cpu_percent": cpu}
    if samples:
        server["peak_rss_kb"] = max(s[1] for s in samples)
        server["peak_fds"] = max(s[2] for s in samples)
        print("server: peak RSS %.1f MiB, peak open descriptors %d" %
              (server["peak_rss_kb"] / 1024.0, server["peak_fds"]))
    print("CPU over the run, %% of one core: server %.0f, our clients (all processes) %.0f, "
          "other processes %.0f" % (cpu["server"], cpu["clients"], cpu["others"]))
    metrics = {}
    for path in args.metrics_path or ["/nacos/v1/ns/operator/metrics"]:
        status, body = fetch(args.port, path)
        metrics[path] = {"status": status, "body": body}
        if status == 200:
            print("server %s: %s" % (path, body.strip()[:2000]))
        else:
            print("server %s: %s" % (path, "no answer" if status is None else "status %d" % status))
    if args.json:
        with open(args.json, "w") as f:
            # Every legitimate request: seconds from the start it was due, milliseconds from due
            # to answer (or the failure's reason), and its kind.
            raw = [[round(r[0] - start, 6), round((r[2] - r[0]) * 1000, 3), r[3]] for r in records]
            raw += [[round(due - start, 6), reason, kind] for due, kind, reason in failures]
            json.dump({"args": vars(args), "legit": report, "flood": fl, "holders": hd,
                       "oversize": results["oversize"], "server": server, "metrics": metrics,
                       "prometheus": prometheus,
                       "legit_requests": sorted(raw, key=lambda r: r[0])},
                      f, indent=1, sort_keys=True)
    whole = report["whole run"]
    return 0 if whole["failures"] == 0 and whole["p99_ms"] <= 5.0 else 3


if __name__ == "__main__":
    sys.exit(main())
