#!/usr/bin/env bash
# naming-server over gRPC, side by side with v1 HTTP and UDP: register rate, change to push,
# disconnect to push, and the idle cost of 5,000 connections. Figures: docs/benchmarks.md,
# "gRPC" under "## naming-server".
#
#   bench/naming/grpc.sh [--no-build]
#
# Environment (defaults in brackets): BUILD_DIR [build-bench]  SERVER_CPU [0]  CLIENT_CPU [1]
#   SUBSCRIBERS [1000]  CHANGES [200]  KILLS [50]  REG_CONNECTIONS [8]  REG_COUNT [40000]
#   IDLE_CONNECTIONS [5000]  IDLE_SECONDS [60]  DURATION [10s] (the v1 wrk run)
#
# Each measurement gets a fresh server on 127.0.0.1 (port 0, gRPC on port + 1000), pinned to
# SERVER_CPU; the load runs on CLIENT_CPU. Every process started here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/naming
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
CHANGES=${CHANGES:-200}
KILLS=${KILLS:-50}
REG_CONNECTIONS=${REG_CONNECTIONS:-8}
REG_COUNT=${REG_COUNT:-40000}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-5000}
IDLE_SECONDS=${IDLE_SECONDS:-60}
DURATION=${DURATION:-10s}

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
TMP=$(mktemp -d /tmp/grpc-bench.XXXXXX)
SERVER_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $SERVER_PID ]] && stop_pids "$SERVER_PID"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if [[ ${1:-} != --no-build ]]; then
  log "building in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUBBO_REGISTRY_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD_DIR" -j2 --target naming-server grpc_bench push_fanout_bench >&2
fi
SERVER_BIN=$BUILD_DIR/naming-server/naming-server
GRPC_BIN=$BUILD_DIR/bench/grpc_bench
PUSH_BIN=$BUILD_DIR/bench/push_fanout_bench
ulimit -n "$(ulimit -Hn)"

# Starts a fresh server (extra flags in "$@"); sets SERVER_PID, PORT and GRPC_PORT.
start() {
  [[ -n $SERVER_PID ]] && stop_pids "$SERVER_PID"
  start_naming_server "$TMP/out" "$TMP/err" taskset -c "$SERVER_CPU" "$SERVER_BIN" --port 0 \
    --log-level warning --max-connections-per-peer 20000 "$@"
  for _ in {1..100}; do grep -q 'grpc on' "$TMP/out" && break; sleep 0.05; done
  GRPC_PORT=$(sed -n 's/^naming-server grpc on 127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/out")
  [[ -n $GRPC_PORT ]] || { cat "$TMP/err" >&2; echo "no gRPC listener" >&2; exit 1; }
}
client() { taskset -c "$CLIENT_CPU" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/{printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

log "register rate: gRPC, $REG_CONNECTIONS connections, $REG_COUNT registrations (each a new instance)"
start
t0=$(cpu_ticks "$SERVER_PID")
client "$GRPC_BIN" --server "127.0.0.1:$GRPC_PORT" --mode register \
  --connections "$REG_CONNECTIONS" --count "$REG_COUNT"
echo "server CPU during the connections' setup and the registrations: $(( ($(cpu_ticks "$SERVER_PID") - t0) * 1000 / $(getconf CLK_TCK) )) ms"

if command -v wrk >/dev/null; then
  log "register rate: v1 HTTP, wrk -t1 -c32 -d$DURATION, every request a new instance"
  start
  BENCH_REGISTER_MODE=new client wrk -t1 -c32 -d"$DURATION" -s "$HERE/register.lua" \
    "http://127.0.0.1:$PORT" | grep -E '^(Requests/sec|RESULT)'
else
  log "wrk not installed: no v1 register figure (apt-get install wrk)"
fi

log "change to push: $SUBSCRIBERS gRPC subscribers, $CHANGES changes"
start
client "$GRPC_BIN" --server "127.0.0.1:$GRPC_PORT" --mode fanout --subscribers "$SUBSCRIBERS" \
  --changes "$CHANGES"

log "change to push: $SUBSCRIBERS UDP subscribers, $CHANGES changes (push_fanout_bench)"
start
client "$PUSH_BIN" --server "127.0.0.1:$PORT" --subscribers "$SUBSCRIBERS" --changes "$CHANGES" \
  | grep -iE 'acked|first'

log "disconnect to push: $SUBSCRIBERS gRPC subscribers, $KILLS publishers SIGKILLed"
start
client "$GRPC_BIN" --server "127.0.0.1:$GRPC_PORT" --mode disconnect \
  --subscribers "$SUBSCRIBERS" --changes "$KILLS"

log "idle cost: $IDLE_CONNECTIONS gRPC connections with one instance each, ${IDLE_SECONDS} s"
start
rss0=$(rss_mb "$SERVER_PID")
client "$GRPC_BIN" --server "127.0.0.1:$GRPC_PORT" --mode idle \
  --connections "$IDLE_CONNECTIONS" --seconds "$((IDLE_SECONDS + 10))" >"$TMP/idle" &
IDLE_PID=$!
for _ in $(seq 600); do grep -q registered "$TMP/idle" && break; sleep 0.5; done
grep -q registered "$TMP/idle" || { echo "idle clients did not connect" >&2; exit 1; }
sleep 5  # let the registrations' pushes and allocations settle
t0=$(cpu_ticks "$SERVER_PID")
sleep "$IDLE_SECONDS"
t1=$(cpu_ticks "$SERVER_PID")
hz=$(getconf CLK_TCK)
printf 'idle       %d connections: server RSS %s MiB (empty: %s MiB), CPU %.2f %% of a core over %d s\n' \
  "$IDLE_CONNECTIONS" "$(rss_mb "$SERVER_PID")" "$rss0" \
  "$(awk "BEGIN{print ($t1 - $t0) * 100 / $hz / $IDLE_SECONDS}")" "$IDLE_SECONDS"
wait "$IDLE_PID" || true
