#!/usr/bin/env bash
# naming-server benchmarks: throughput (wrk) next to nginx, resident memory with 100,000 instances,
# and UDP push fan-out to 1,000 subscribers. Figures and their discussion: docs/benchmarks.md,
# section "## naming-server".
#
#   bench/naming/run.sh [--no-build]
#
# Environment (defaults in brackets):
#   BUILD_DIR [build-bench]  DURATION [10s]  CONNECTIONS [32]  SERVICES [1000]  INSTANCES [100]
#   CHANGES [500]  SUBSCRIBERS [1000]  SERVER_CPU [0]  CLIENT_CPU [1]
#   SERVER_BIN [BUILD_DIR/naming-server/naming-server]  PUSH_BIN [BUILD_DIR/bench/push_fanout_bench]
#                   other binaries, e.g. a copy of an earlier build for an A/B run
#   PUSH [1]        0 skips the push fan-out runs (for quick throughput A/B runs)
#   LIVENESS [0]    1 also measures GET /v1/console/health/liveness (no store work: the ceiling of
#                   the HTTP layer) against both servers
#   QUIET_MAX [15]   before each measurement, wait (up to QUIET_WAIT [180] s) until other processes
#                    use less than this % of one core; every row also reports the CPU that processes
#                    other than ours used while it ran ("other CPU"), so contended runs are visible;
#                    a wrk run during which that exceeded QUIET_MAX is repeated (RETRIES [2] times).
#
# Every server listens on 127.0.0.1 on a free port, all traffic stays on loopback, every run is
# bounded in time, and every process started here is stopped on exit, error or Ctrl-C (trap).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/bench/naming
BUILD_DIR=${BUILD_DIR:-$ROOT/build-bench}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
SERVICES=${SERVICES:-1000}
INSTANCES=${INSTANCES:-100}
CHANGES=${CHANGES:-500}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
QUIET_MAX=${QUIET_MAX:-15}
QUIET_WAIT=${QUIET_WAIT:-180}
RETRIES=${RETRIES:-2}
PUSH=${PUSH:-1}
LIVENESS=${LIVENESS:-0}
BUILD=1
[[ ${1:-} == --no-build ]] && BUILD=0

export BENCH_SERVICES=$SERVICES BENCH_INSTANCES=$INSTANCES

TMP=$(mktemp -d /tmp/naming-bench.XXXXXX)
chmod 755 "$TMP"  # nginx workers (user nobody) need to reach their temp dirs
PIDS=()    # servers, stopped at exit
FG_PID=    # the measurement running now (see run_fg)

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # shellcheck disable=SC2086
  stop_pids $FG_PID "${PIDS[@]}"
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT TERM

# Runs a command in the background and waits for it: unlike a foreground command, `wait` returns
# at once on Ctrl-C or SIGTERM, so the trap stops everything without waiting for the command.
run_fg() {
  "$@" &
  FG_PID=$!
  local rc=0
  wait "$FG_PID" || rc=$?
  FG_PID=
  return "$rc"
}

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools and build.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx)
command -v taskset >/dev/null || missing+=(util-linux)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  # policy-rc.d keeps the package from starting the system nginx.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    POLICY_ADDED=1
  fi
  apt-get install -y "${missing[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; }
  [[ -n ${POLICY_ADDED:-} ]] && rm -f /usr/sbin/policy-rc.d
fi
if ((BUILD)); then
  log "building naming-server and push_fanout_bench in $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUBBO_REGISTRY_BUILD_TESTS=OFF >&2
  cmake --build "$BUILD_DIR" -j2 --target naming-server push_fanout_bench >&2
fi
SERVER_BIN=${SERVER_BIN:-$BUILD_DIR/naming-server/naming-server}
PUSH_BIN=${PUSH_BIN:-$BUILD_DIR/bench/push_fanout_bench}
[[ -x $SERVER_BIN && -x $PUSH_BIN ]] || { echo "missing $SERVER_BIN or $PUSH_BIN" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# CPU accounting (clock ticks, USER_HZ).
# BUSY = user+nice+system ticks of all CPUs; irq/softirq time is left out (our own loopback
# traffic lands there). Builtins only, no subshell, so that Ctrl-C is handled promptly.
busy_ticks() {
  local _cpu user nice system _rest
  read -r _cpu user nice system _rest </proc/stat
  BUSY=$((user + nice + system))
}
# CTICKS = CPU (user+system) of every child this shell has waited for, in ticks: a finished
# run_fg command's CPU is the difference across it (no /usr/bin/time in between, whose death would
# orphan the command).
child_ticks() {
  local _self m s sec frac total=0 t
  times >"$TMP/times"  # a builtin with a redirection: runs in this shell, no fork
  { read -r _self; read -r m s; } <"$TMP/times"
  for t in "$m" "$s"; do  # "1m2.345s"
    sec=${t#*m}; sec=${sec%s}; frac=${sec#*.}000
    total=$((total + ${t%%m*} * 60000 + 10#${sec%.*} * 1000 + 10#${frac:0:3}))
  done
  CTICKS=$((total * hz / 1000))
}
# PTICKS = utime+stime of the given pids (all their threads).
pid_ticks() {
  local t=0 pid stat
  local -a f
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] || continue
    read -r stat <"/proc/$pid/stat"
    read -ra f <<<"${stat##*) }"
    t=$((t + f[11] + f[12]))
  done
  PTICKS=$t
}
hz=$(getconf CLK_TCK)

# Waits until the machine is quiet: less than QUIET_MAX % of one core busy over one second (our
# servers are idle at that point).
wait_quiet() {
  local waited=0 b0 pct
  while :; do
    busy_ticks; b0=$BUSY
    sleep 1
    busy_ticks
    pct=$(((BUSY - b0) * 100 / hz))
    ((pct <= QUIET_MAX)) && return 0
    if ((waited >= QUIET_WAIT)); then
      log "machine still busy (${pct}% of a core used by others); measuring anyway"
      return 0
    fi
    ((waited == 0)) && log "waiting for other load to settle (${pct}% of a core busy)"
    waited=$((waited + 1))
  done
}

ms() { awk "BEGIN{printf \"%.2f\", $1/1000}"; }  # microseconds -> milliseconds
mb() { awk "BEGIN{printf \"%.1f\", $1/1024}"; }  # kB -> MiB
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_wrk TARGET WORKLOAD URL SCRIPT [ENV=VALUE...]: one wrk run; appends a row to $TMP/results
# and logs it. Row: target workload rps p50_us p99_us non2xx errors server_cpu% wrk_cpu% other_cpu%
# server CPU: the server's CPU time over wrk's measured duration (the server is idle while wrk
# builds its requests); wrk CPU: wrk's CPU time after its init(), over the same duration (from the
# script's done()); other CPU: CPU that neither used over the whole run, wrk's init included.
run_wrk() {
  local target=$1 workload=$2 url=$3 script=$4
  shift 4
  local pids_var=${target}_PIDS
  local -a server_pids=(${!pids_var})
  local out=$TMP/wrk-$target-$workload.txt
  local b0 s0 c0 t0 b1 s1 c1 t1 attempt
  for ((attempt = 0; ; ++attempt)); do
    wait_quiet
    busy_ticks; b0=$BUSY; pid_ticks "${server_pids[@]}"; s0=$PTICKS; child_ticks; c0=$CTICKS
    t0=$EPOCHREALTIME
    run_fg env "$@" taskset -c "$CLIENT_CPU" \
      wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "$HERE/$script" "$url" >"$out" 2>&1
    busy_ticks; b1=$BUSY; pid_ticks "${server_pids[@]}"; s1=$PTICKS; child_ticks; c1=$CTICKS
    t1=$EPOCHREALTIME
    local line
    line=$(grep '^RESULT' "$out") || { cat "$out" >&2; echo "wrk failed" >&2; exit 1; }
    # shellcheck disable=SC2086
    local $(echo "${line#RESULT }")  # requests= rps= p50_us= ... duration_us= wrk_cpu_us= as locals
    local errors=$((connect_err + read_err + write_err + timeouts))
    local wrk_ticks=$((c1 - c0)) window_us=$((${t1/./} - ${t0/./}))
    local server_pct=$(((s1 - s0) * 100000000 / hz / duration_us))
    local wrk_pct=$((wrk_cpu_us * 100 / duration_us))
    local other_pct=$((((b1 - b0) - (s1 - s0) - wrk_ticks) * 100000000 / hz / window_us))
    ((other_pct < 0)) && other_pct=0
    ((other_pct > QUIET_MAX && attempt < RETRIES)) || break
    log "$target $workload: other processes used ${other_pct}% of a core meanwhile; measuring again"
  done
  echo "$target $workload $rps $p50_us $p99_us $non2xx $errors $server_pct $wrk_pct $other_pct" \
    >>"$TMP/results"
  log "$(printf '%-6s %-13s %7s req/s  p50 %s  p99 %s  max %s ms  non2xx %s  errors %s  server CPU %s%%  wrk CPU %s%%  other CPU %s%%' \
    "$target" "$workload" "$rps" "$(ms "$p50_us")" "$(ms "$p99_us")" "$(ms "$max_us")" \
    "$non2xx" "$errors" "$server_pct" "$wrk_pct" "$other_pct")"
}

# run_push NAME SERVICE [push_fanout_bench flags...]: one push fan-out run against the loaded
# server, into $TMP/NAME.txt, plus the CPU other processes used meanwhile; repeated (with a fresh
# service, as the previous run's subscribers stay live for 30 s) if that exceeded QUIET_MAX.
run_push() {
  local name=$1 service=$2
  shift 2
  local attempt b0 s0 c0 t0 b1 s1 c1 t1 other_pct
  for ((attempt = 0; ; ++attempt)); do
    wait_quiet
    busy_ticks; b0=$BUSY; pid_ticks "$SERVER_PID"; s0=$PTICKS; child_ticks; c0=$CTICKS
    t0=$EPOCHREALTIME
    run_fg taskset -c "$CLIENT_CPU" timeout 900 "$PUSH_BIN" \
      --server "127.0.0.1:$PORT" --subscribers "$SUBSCRIBERS" --changes "$CHANGES" \
      --service "$service$attempt" "$@" >"$TMP/$name.txt" 2>&1 || true
    busy_ticks; b1=$BUSY; pid_ticks "$SERVER_PID"; s1=$PTICKS; child_ticks; c1=$CTICKS
    t1=$EPOCHREALTIME
    other_pct=$((((b1 - b0) - (s1 - s0) - (c1 - c0)) * 100000000 / hz / (${t1/./} - ${t0/./})))
    ((other_pct < 0)) && other_pct=0
    ((other_pct > QUIET_MAX && attempt < RETRIES)) || break
    log "push fan-out $name: other processes used ${other_pct}% of a core meanwhile; measuring again"
  done
  echo "other CPU during the run: ${other_pct}% of a core" >>"$TMP/$name.txt"
  cat "$TMP/$name.txt" >&2
}

# ---------------------------------------------------------------------------------------------
# naming-server.
log "starting naming-server on core $SERVER_CPU"
# Timeouts of an hour: the preloaded instances get no beats of their own and must stay for the
# whole run. The health sweep still runs every 5 s (default) over all of them.
start_naming_server "$TMP/server.out" "$TMP/server.err" taskset -c "$SERVER_CPU" "$SERVER_BIN" \
  --port 0 --heartbeat-timeout-ms 3600000 --ip-delete-timeout-ms 7200000 ||
  { PIDS+=("$SERVER_PID"); exit 1; }
PIDS+=("$SERVER_PID")
naming_PIDS=$SERVER_PID
URL=http://127.0.0.1:$PORT
sleep 1
RSS_IDLE=$(rss_kb "$SERVER_PID")
log "naming-server pid $SERVER_PID on $URL, idle RSS $RSS_IDLE kB"

log "loading $SERVICES x $INSTANCES instances (+10 in the list service)"
run_fg taskset -c "$CLIENT_CPU" timeout 600 python3 "$HERE/load.py" --port "$PORT" \
  --services "$SERVICES" --instances "$INSTANCES" >"$TMP/load.txt"
LOAD_LINE=$(cat "$TMP/load.txt")
log "$LOAD_LINE"
sleep 1
RSS_LOADED=$(rss_kb "$SERVER_PID")
log "RSS with $(sed 's/.*instances=\([0-9]*\).*/\1/' <<<"$LOAD_LINE") instances: $RSS_LOADED kB"

# ---------------------------------------------------------------------------------------------
# nginx next to it, same pinning, same scripts. Both servers run throughout; the workloads alternate
# between them, so that a change of background load hits both columns alike.
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<NGINX_CONF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  # No cap on requests per keep-alive connection (default 1000), as naming-server has none.
  keepalive_requests 1000000000;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "ok"; }
  }
}
NGINX_CONF
log "starting nginx on core $SERVER_CPU, port $NGINX_PORT"
taskset -c "$SERVER_CPU" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
  >"$TMP/nginx/out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 100); do curl -s "http://127.0.0.1:$NGINX_PORT/" >/dev/null && break; sleep 0.05; done
NGINX_WORKERS=$(pgrep -P "$NGINX_PID" | tr '\n' ' ')
[[ -n $NGINX_WORKERS ]] || { cat "$TMP/nginx/out" "$TMP/nginx/error.log" >&2; exit 1; }
PIDS+=($NGINX_WORKERS)
nginx_PIDS="$NGINX_PID $NGINX_WORKERS"
NURL=http://127.0.0.1:$NGINX_PORT

both() {  # WORKLOAD SCRIPT [ENV=VALUE...]
  local workload=$1 script=$2
  shift 2
  run_wrk naming "$workload" "$URL" "$script" "$@"
  run_wrk nginx "$workload" "$NURL" "$script" "$@"
}
WORKLOADS=(beat_light beat_full list register_pool register_new)
if ((LIVENESS)); then
  WORKLOADS=(liveness "${WORKLOADS[@]}")
  both liveness liveness.lua
fi
both beat_light beat_light.lua
both beat_full beat_full.lua
both list list.lua
both register_pool register.lua BENCH_REGISTER_MODE=pool
RSS_AFTER_WRK=$(rss_kb "$SERVER_PID")
COUNT_AFTER_WRK=$(curl -s "$URL/nacos/v1/ns/operator/metrics" | sed 's/.*"instanceCount":\([0-9]*\).*/\1/')
log "RSS after the workloads: $RSS_AFTER_WRK kB ($COUNT_AFTER_WRK instances)"

# ---------------------------------------------------------------------------------------------
# Push fan-out, against the same loaded server. Each run uses its own service, so that an earlier
# run's subscribers (live for the 30 s subscriber TTL after it ends) are not pushed to as well.
if ((PUSH)); then
  log "push fan-out: $SUBSCRIBERS subscribers, $CHANGES changes"
  run_push push "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.PushFanout:1.0.0:"
  run_push push-small "DEFAULT_GROUP@@providers:org.apache.dubbo.bench.PushFanoutSmall:1.0.0:" \
    --instances 0 --metadata-keys 0
fi
PUSH_STATE=$(curl -s "$URL/nacos/v1/ns/operator/push/state")

# Last, as it grows the store by one instance per request.
both register_new register.lua BENCH_REGISTER_MODE=new
RSS_FINAL=$(rss_kb "$SERVER_PID")
COUNT_FINAL=$(curl -s "$URL/nacos/v1/ns/operator/metrics" | sed 's/.*"instanceCount":\([0-9]*\).*/\1/')
log "RSS at the end: $RSS_FINAL kB ($COUNT_FINAL instances)"
SERVER_LOG_LINES=$(wc -l <"$TMP/server.err")

kill -TERM "$SERVER_PID" "$NGINX_PID"
wait "$SERVER_PID" || true
wait "$NGINX_PID" || true

# ---------------------------------------------------------------------------------------------
# Summary.
echo
echo "naming-server benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), wrk -t1 -c$CONNECTIONS -d$DURATION," \
  "server on core $SERVER_CPU, wrk on core $CLIENT_CPU"
echo
printf '| workload | naming-server req/s | p50 | p99 | nginx req/s | p50 | p99 | ratio | non-2xx, errors (ns; nginx) | server CPU (ns; nginx) | wrk CPU (ns; nginx) | other CPU (ns; nginx) |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
for w in "${WORKLOADS[@]}"; do
  read -r _ _ n_rps n_p50 n_p99 n_non n_err n_srv n_wrk n_other < <(grep "^naming $w " "$TMP/results")
  read -r _ _ g_rps g_p50 g_p99 g_non g_err g_srv g_wrk g_other < <(grep "^nginx $w " "$TMP/results")
  printf '| %s | %s | %s ms | %s ms | %s | %s ms | %s ms | %.2f | %s, %s; %s, %s | %s%%; %s%% | %s%%; %s%% | %s%%; %s%% |\n' \
    "$w" "$n_rps" "$(ms "$n_p50")" "$(ms "$n_p99")" "$g_rps" "$(ms "$g_p50")" "$(ms "$g_p99")" \
    "$(awk "BEGIN{print $n_rps/$g_rps}")" "$n_non" "$n_err" "$g_non" "$g_err" "$n_srv" "$g_srv" \
    "$n_wrk" "$g_wrk" "$n_other" "$g_other"
done
echo
echo "resident memory (VmRSS, MB = MiB): idle $(mb "$RSS_IDLE");" \
  "$LOAD_LINE -> $(mb "$RSS_LOADED");" \
  "after the workloads ($COUNT_AFTER_WRK instances) $(mb "$RSS_AFTER_WRK");" \
  "at the end ($COUNT_FINAL instances) $(mb "$RSS_FINAL")"
echo
echo "push fan-out ($SUBSCRIBERS subscribers, 5 instances with 5 metadata keys, gzipped packets):"
grep -E '^(push packet|http |first |acked |counted |server push|system UDP|other CPU)' "$TMP/push.txt" 2>/dev/null || true
echo "push fan-out ($SUBSCRIBERS subscribers, 1 toggled instance without metadata, packets < 1 KiB):"
grep -E '^(push packet|http |first |acked |counted |server push|system UDP|other CPU)' "$TMP/push-small.txt" 2>/dev/null || true
echo
echo "server push/state at the end: $PUSH_STATE"
echo "naming-server stderr: $SERVER_LOG_LINES lines"
head -5 "$TMP/server.err" 2>/dev/null || true
