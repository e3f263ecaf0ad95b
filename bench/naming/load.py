#!/usr/bin/env python3
"""Preloads a naming server with the benchmark data set (see common.lua for its shape).

    load.py --port 8848 [--services 1000] [--instances 100] [--connections 4]

Registers SERVICES x INSTANCES Dubbo-style provider instances (5 metadata keys each) plus the list
service (10 instances) with POST /nacos/v1/ns/instance, the Java client's parameters in the query
string, over keep-alive HTTP/1.1 connections to 127.0.0.1 only. Every answer must be 200 "ok";
the script then checks the instance count with GET /nacos/v1/ns/operator/metrics and prints one
line "LOADED instances=N services=M seconds=S rate=R".
"""
import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse

UA = "Nacos-Java-Client:v1.4.8"


def service_name(s):
    return "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.DemoService%04d:1.0.0:" % s


def app(s):
    return "bench-app-%03d" % (s // 10)


def ip(s, i):
    return "10.%d.0.%d" % (s // 10, i + 1)


def metadata(s, i):
    # Same text as common.lua's metadata_json (key order included).
    return ('{"application":"%s","methods":"echo,sayHello,sayGoodbye,getUser","release":"3.2.0",'
            '"side":"provider","timestamp":"%d"}' % (app(s), 1700000000000 + s * 1000 + i))


def register_path(name, host, meta, application):
    params = [("namespaceId", "public"), ("serviceName", name), ("groupName", "DEFAULT_GROUP"),
              ("clusterName", "DEFAULT"), ("ip", host), ("port", "20880"), ("weight", "1.0"),
              ("enable", "true"), ("healthy", "true"), ("ephemeral", "true"),
              ("metadata", meta), ("app", application)]
    return "/nacos/v1/ns/instance?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def jobs(services, instances):
    for s in range(services):
        for i in range(instances):
            yield register_path(service_name(s), ip(s, i), metadata(s, i), app(s))
    name = "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.ListService:1.0.0:"
    for i in range(10):
        meta = ('{"application":"bench-list-app","methods":"echo,sayHello,sayGoodbye,getUser",'
                '"release":"3.2.0","side":"provider","timestamp":"%d"}' % (1700000000000 + i))
        yield register_path(name, "10.255.0.%d" % (i + 1), meta, "bench-list-app")


def worker(port, paths, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"User-Agent": UA, "Content-Length": "0"}
    for path in paths:
        conn.request("POST", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200 or body != b"ok":
            errors.append("%d %r for %s" % (resp.status, body[:200], path))
            if len(errors) > 10:
                return
    conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    paths = list(jobs(args.services, args.instances))
    shards = [paths[k::args.connections] for k in range(args.connections)]
    errors = []
    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(args.port, shard, errors)) for shard in shards]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    if errors:
        print("load.py: registration failed:", *errors[:10], sep="\n  ", file=sys.stderr)
        return 1

    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=30)
    conn.request("GET", "/nacos/v1/ns/operator/metrics", headers={"User-Agent": UA})
    metrics = json.loads(conn.getresponse().read())
    instances = metrics.get("instanceCount")
    services = metrics.get("serviceCount")
    print("LOADED instances=%s services=%s seconds=%.1f rate=%.0f" %
          (instances, services, elapsed, len(paths) / elapsed))
    if instances != len(paths):
        print("load.py: expected %d instances, the server holds %s" % (len(paths), instances),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
