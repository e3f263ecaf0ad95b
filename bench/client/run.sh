#!/usr/bin/env bash
# Nacos naming client benchmarks: our NamingClient over gRPC and over v1 HTTP, the official Rust SDK
# (gRPC) and the official Node.js SDK (v1 HTTP), against naming-server: change -> listener latency
# across processes, provider SIGKILL -> listener latency, the time to register 10,000 instances,
# and the idle cost (threads, CPU, RSS) of holding them. Figures and discussion: docs/benchmarks.md,
# section "## Nacos naming client".
#
#   bench/client/run.sh BUILD_DIR [--runs 1] [--clients grpc,http,rust,node] [--changes 400]
#                       [--kills 30] [--v1-kills 2] [--instances 10000] [--services 1000]
#                       [--threads 8] [--settle 20] [--window 60] [--server-cpu 0]
#                       [--client-cpu 1] [--skip-latency] [--skip-overhead] [--json FILE]
#
# Builds nothing: BUILD_DIR must hold naming-server/naming-server and bench/client_bench, e.g.
#   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUBBO_REGISTRY_BUILD_TESTS=OFF
#   cmake --build build-bench -j2 --target naming-server client_bench
# and the SDKs must be installed: cd tests/interop && { npm ci || npm install --no-save; }.
# Each run starts its own naming-server on 127.0.0.1 (free port); every process started is stopped
# at the end, on error or on Ctrl-C. Prints a table per run and the medians. ~9 min per run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -lt 1 || $1 == -* ]]; then
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
fi
exec python3 "$HERE/run.py" "$@"
