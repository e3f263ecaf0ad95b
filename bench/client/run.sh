#!/usr/bin/env bash
# Nacos naming client benchmarks: change-to-notify latency across two processes, and the overhead
# (threads, CPU, RSS) of 10,000 beating instances next to the official Node.js SDK doing the same.
# Figures and their discussion: docs/benchmarks.md, section "## Nacos naming client".
#
#   bench/client/run.sh BUILD_DIR [--runs 3] [--changes 1000] [--instances 10000] [--services 100]
#                       [--settle 20] [--window 60] [--server-cpu 0] [--client-cpu 1]
#                       [--quiet-max 30] [--quiet-wait 60] [--skip-latency] [--skip-overhead]
#                       [--json FILE]
#
# Builds nothing: BUILD_DIR must hold naming-server/naming-server, bench/client_latency_bench and
# bench/client_overhead_bench, e.g.
#   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
#   cmake --build build-bench -j2 --target naming-server client_latency_bench client_overhead_bench
# and the Node SDK must be installed (npm ci in tests/interop). Each run starts its own naming-server
# on 127.0.0.1 (free port); every process started is stopped at the end, on error or on Ctrl-C.
# Prints a table per run and the medians over the runs. ~4.5 min per run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -lt 1 || $1 == -* ]]; then
  sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
fi
exec python3 "$HERE/run.py" "$@"
