#!/usr/bin/env bash
# naming-server abuse soak: legitimate list and beat traffic at a fixed rate while, against the same
# server, attackers run five attacks at once:
#   idle flood        thousands of connections that send nothing, spread over many source
#                     addresses (127.1.x.y) so that the per-peer cap does not stop them before the
#                     connection table is full (the server must evict them to admit anyone else);
#   slowloris         connections that trickle a request head one byte at a time;
#   slow readers      connections that request a list answer of a few MB and never read it;
#   mid-body holders  connections that send a head with Content-Length: 1048576, then nothing;
#   oversized         a 2 MiB body, a 64 KiB header, a 1000 KiB service name, every few seconds.
# Reports the legitimate p50/p99/max latency and failures per phase (goal over the whole run:
# p99 <= 5 ms, 0 failures), each attack from the attacker's side, and what the server counted
# (/nacos/actuator/prometheus 2 s before the attack ends and after the cool-down: rejects by
# reason, connections, bytes held), its memory, descriptors and CPU. Figures: docs/benchmarks.md,
# "Abuse soak".
#
#   bench/naming/abuse.sh [--no-build]
#   SERVER_BIN=/path/to/naming-server bench/naming/abuse.sh --no-build   # another build
#
# Environment (defaults in brackets):
#   BUILD_DIR [build-bench]  SERVER_BIN [BUILD_DIR/naming-server/naming-server]
#   SERVER_CPU [0]  CLIENT_CPU [1]     cores for the server and the legitimate client ("" = any)
#   ATTACK_CPU [SERVER_CPU]            core for the attackers (nice +10): by default they share
#                                      the server's core, as their packets would share its
#                                      machine, and leave the legitimate client's core alone
#   RATE [500]  BEAT_RATE [100]        legitimate list requests/s and light beats/s, from 127.0.0.1
#   CONNS [8]  RECYCLE [200]           legitimate keep-alive connections, requests per connection
#   TIMEOUT [2]                        seconds after which a legitimate request counts as failed
#   WARMUP [5]  DURATION [90]  COOLDOWN [5]   seconds before, under and after the attack (90 s
#                                      lets the server's 60 s idle and write deadlines expire)
#   PER_SOURCE [250]                   connections per source address for the idle flood, slow
#                                      readers and mid-body holders (the server's per-peer cap
#                                      is 1000)
#   IDLE [10000]  IDLE_RATE [2000]     idle connections (from 127.1.x.y), opened per second
#   SLOWLORIS [200]  SLOW_INTERVAL [5] slowloris connections (from 127.0.0.3), seconds per byte
#   SLOW_READERS [50]                  slow readers (from 127.3.x.y)
#   BIG_INSTANCES [250]  BIG_METADATA_BYTES [12000]   the persistent instances, and the metadata
#                                      of each, of the service they request (a ~3 MB answer)
#   MIDBODY [1000]                     mid-body holders (from 127.4.x.y)
#   HOLD_RATE [500]                    slow readers and mid-body holders opened per second
#   OVERSIZE_INTERVAL [2]              seconds between rounds of oversized requests (127.0.0.4)
#   QUIET_MAX [15]  QUIET_WAIT [180]   before starting, wait (up to QUIET_WAIT s) until other
#                                      processes use at most QUIET_MAX % of one core; the report
#                                      shows the CPU others used during the run
#   METRICS_PATHS [/nacos/v1/ns/operator/metrics]   server endpoints printed at the end
#   SERVER_ARGS []                     extra naming-server flags
#   SERVER_COMMIT [this checkout's HEAD]   the label printed with the figures (set it when
#                                      SERVER_BIN was built from another tree)
#   JSON []                            also write every figure to this file
#
# Exit code: 0 when the goal was met, 3 when not (the report is printed either way), other codes
# for errors. Every process listens or connects on loopback only; the whole run is bounded
# (WARMUP + DURATION + COOLDOWN + QUIET_WAIT + 180 s at most, by `timeout`), and everything
# started here is stopped on exit, error or Ctrl-C (trap; the Python attackers also die with
# their parent), which closes every socket they held.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/naming
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
SERVER_CPU=${SERVER_CPU-0}
CLIENT_CPU=${CLIENT_CPU-1}
ATTACK_CPU=${ATTACK_CPU-$SERVER_CPU}
RATE=${RATE:-500}
BEAT_RATE=${BEAT_RATE:-100}
CONNS=${CONNS:-8}
RECYCLE=${RECYCLE:-200}
TIMEOUT=${TIMEOUT:-2}
WARMUP=${WARMUP:-5}
DURATION=${DURATION:-90}
COOLDOWN=${COOLDOWN:-5}
SLOWLORIS=${SLOWLORIS:-200}
SLOW_INTERVAL=${SLOW_INTERVAL:-5}
IDLE=${IDLE:-10000}
IDLE_RATE=${IDLE_RATE:-2000}
PER_SOURCE=${PER_SOURCE:-250}
SLOW_READERS=${SLOW_READERS:-50}
BIG_INSTANCES=${BIG_INSTANCES:-250}
BIG_METADATA_BYTES=${BIG_METADATA_BYTES:-12000}
MIDBODY=${MIDBODY:-1000}
HOLD_RATE=${HOLD_RATE:-500}
OVERSIZE_INTERVAL=${OVERSIZE_INTERVAL:-2}
QUIET_MAX=${QUIET_MAX:-15}
QUIET_WAIT=${QUIET_WAIT:-180}
METRICS_PATHS=${METRICS_PATHS:-/nacos/v1/ns/operator/metrics}
SERVER_ARGS=${SERVER_ARGS:-}
SERVER_COMMIT=${SERVER_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
JSON=${JSON:-}
BUILD=1
[[ ${1:-} == --no-build ]] && BUILD=0

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

TMP=$(mktemp -d /tmp/naming-abuse.XXXXXX)
SERVER_PID=
FG_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # shellcheck disable=SC2086
  stop_pids $FG_PID $SERVER_PID
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
# on CORE: the command prefix that pins to CORE (none when CORE is empty).
on() { [[ -n $1 ]] && echo "taskset -c $1"; true; }

# 10,000 idle connections plus the rest need more descriptors than the usual soft limit of 1024,
# in the server and in the attackers alike (the idle flood and slowloris share one process, the
# slow readers and mid-body holders another).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited ]] && ((NOFILE < IDLE + SLOWLORIS + 256)); then
  log "ulimit -n is $NOFILE (hard limit): lowering IDLE from $IDLE to $((NOFILE - SLOWLORIS - 256))"
  IDLE=$((NOFILE - SLOWLORIS - 256))
fi
if [[ $NOFILE != unlimited ]] && ((NOFILE < SLOW_READERS + MIDBODY + 256)); then
  echo "ulimit -n is $NOFILE (hard limit): below SLOW_READERS + MIDBODY + 256" >&2
  exit 1
fi

if ((BUILD)); then
  log "building naming-server in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUBBO_REGISTRY_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD_DIR" -j2 --target naming-server >&2
fi
SERVER_BIN=${SERVER_BIN:-$BUILD_DIR/naming-server/naming-server}
[[ -x $SERVER_BIN ]] || { echo "missing $SERVER_BIN (build it, or drop --no-build)" >&2; exit 1; }

log "starting $SERVER_BIN --port 0 $SERVER_ARGS (core ${SERVER_CPU:-any}, ulimit -n $NOFILE)"
# shellcheck disable=SC2046,SC2086
start_naming_server "$TMP/server.out" "$TMP/server.err" $(on "$SERVER_CPU") "$SERVER_BIN" --port 0 \
  $SERVER_ARGS
log "naming-server pid $SERVER_PID on 127.0.0.1:$PORT; soak of $((WARMUP + DURATION + COOLDOWN)) s"

rc=0
FG_ARGS=(--port "$PORT" --server-pid "$SERVER_PID" --rate "$RATE" --beat-rate "$BEAT_RATE"
  --conns "$CONNS" --recycle "$RECYCLE" --timeout "$TIMEOUT" --warmup "$WARMUP"
  --duration "$DURATION" --cooldown "$COOLDOWN" --slowloris "$SLOWLORIS"
  --slow-interval "$SLOW_INTERVAL" --idle "$IDLE" --idle-rate "$IDLE_RATE"
  --per-source "$PER_SOURCE" --slow-readers "$SLOW_READERS" --big-instances "$BIG_INSTANCES"
  --big-metadata-bytes "$BIG_METADATA_BYTES" --midbody "$MIDBODY" --hold-rate "$HOLD_RATE"
  --oversize-interval "$OVERSIZE_INTERVAL" --quiet-max "$QUIET_MAX" --quiet-wait "$QUIET_WAIT")
[[ -n $JSON ]] && FG_ARGS+=(--json "$JSON")
for path in $METRICS_PATHS; do FG_ARGS+=(--metrics-path "$path"); done
[[ -n $ATTACK_CPU ]] && FG_ARGS+=(--attack-cpu "$ATTACK_CPU")
# In the background and waited for, so that Ctrl-C reaches the trap at once.
# shellcheck disable=SC2046
$(on "$CLIENT_CPU") timeout $((WARMUP + DURATION + COOLDOWN + QUIET_WAIT + 180)) \
  python3 "$HERE/abuse.py" "${FG_ARGS[@]}" >"$TMP/report.txt" &
FG_PID=$!
wait "$FG_PID" || rc=$?
FG_PID=

echo
echo "naming-server abuse soak, $(date -u +%Y-%m-%dT%H:%MZ), server commit $SERVER_COMMIT ($SERVER_BIN)"
echo "server on core ${SERVER_CPU:-any}," \
  "legitimate client on core ${CLIENT_CPU:-any}, attackers on core ${ATTACK_CPU:-any}," \
  "$(nproc) cores"
cat "$TMP/report.txt"
alive "$SERVER_PID" || { echo "naming-server died during the soak" >&2; rc=1; }
echo "naming-server stderr: $(wc -l <"$TMP/server.err") lines"
head -5 "$TMP/server.err"
if ((rc == 3)); then
  echo "goal (legitimate p99 <= 5 ms and 0 failures over the whole run): missed"
elif ((rc == 0)); then
  echo "goal (legitimate p99 <= 5 ms and 0 failures over the whole run): met"
fi
exit "$rc"
