#!/usr/bin/env bash
# Where naming-server spends its time under the run.sh workloads: perf profiles (DWARF call graphs)
# of the server holding 100,000 instances, one per workload, plus the cost of the health sweep.
#
#   bench/naming/profile.sh [OUT_DIR]        (default /tmp/naming-profile; needs linux-perf)
#
# For each workload it writes OUT_DIR/<workload>.txt: the hottest functions by self time, then by
# inclusive time. Assumes run.sh has built BUILD_DIR (default build-bench). Loopback only; every
# process started here is stopped on exit (trap).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/naming
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
OUT=${1:-/tmp/naming-profile}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
mkdir -p "$OUT"
command -v perf >/dev/null || apt-get install -y linux-perf >&2

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

TMP=$(mktemp -d /tmp/naming-profile.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pids "${PIDS[@]}"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_naming_server "$TMP/server.out" "$TMP/server.err" taskset -c "$SERVER_CPU" \
  "$BUILD_DIR/naming-server/naming-server" --port 0 --heartbeat-timeout-ms 3600000 \
  --ip-delete-timeout-ms 7200000 || { PIDS+=("$SERVER_PID"); exit 1; }
PID=$SERVER_PID
PIDS+=("$PID")
URL=http://127.0.0.1:$PORT
taskset -c "$CLIENT_CPU" timeout --foreground 600 python3 "$HERE/load.py" --port "$PORT" >&2

# The health sweep runs on the timer thread every 5 s, taking the server's one mutex in steps of
# ~1,000 instances: its CPU time while the server is otherwise idle. Here (hour-long timeouts) no
# service has anything due, so each sweep only visits the 1,001 services.
TIMERS_TID=$(grep -l naming-timers /proc/"$PID"/task/*/comm | sed 's|.*/task/\([0-9]*\)/comm|\1|')
ticks() { awk '{sub(/^.*\) /, ""); print $12+$13}' "/proc/$PID/task/$TIMERS_TID/stat"; }
t0=$(ticks); sleep 20.5; t1=$(ticks)
echo "health sweep over 100,010 instances (none due: skipped by service): $(((t1 - t0) * 1000 / $(getconf CLK_TCK) / 4)) ms CPU per sweep (4 sweeps)" |
  tee "$OUT/health_sweep.txt"

profile() {  # NAME COMMAND...
  local name=$1
  shift
  perf record -q -e cycles --call-graph dwarf,16384 -p "$PID" -o "$TMP/$name.data" -- sleep 4 \
    >/dev/null 2>&1 &
  local perf_pid=$!
  "$@" >"$TMP/$name.load" 2>&1 || true
  wait "$perf_pid" || true
  {
    grep -h '^RESULT' "$TMP/$name.load" || true
    echo "== self"
    perf report -i "$TMP/$name.data" --no-children --percent-limit 1.5 --stdio -g none --sort sym \
      2>/dev/null | grep -v '^#' | grep -v '^$' | cut -c1-200
    echo "== inclusive"
    perf report -i "$TMP/$name.data" --children --percent-limit 4 --stdio -g none --sort sym \
      2>/dev/null | grep -v '^#' | grep -v '^$' | cut -c1-200
  } >"$OUT/$name.txt"
  echo "wrote $OUT/$name.txt" >&2
}
WRK=(taskset -c "$CLIENT_CPU" wrk -t1 -c32 -d5s)
profile beat_light "${WRK[@]}" -s "$HERE/beat_light.lua" "$URL"
profile beat_full "${WRK[@]}" -s "$HERE/beat_full.lua" "$URL"
profile list "${WRK[@]}" -s "$HERE/list.lua" "$URL"
profile register_pool env BENCH_REGISTER_MODE=pool "${WRK[@]}" -s "$HERE/register.lua" "$URL"
profile push_fanout taskset -c "$CLIENT_CPU" timeout --foreground 120 \
  "$BUILD_DIR/bench/push_fanout_bench" --server "127.0.0.1:$PORT" --changes 60
