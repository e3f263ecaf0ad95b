#!/usr/bin/env bash
# The Thrift demo, end to end (./run.sh demo builds first, then runs this):
#   1. naming-server on a free port;
#   2. three demo-providers with weights 100, 200 and 300;
#   3. demo-consumer for DURATION seconds (default 20), printing a live table every second;
#   4. a third of the way in, SIGKILL of the weight-200 provider (zero calls may fail). The
#      clients speak Nacos gRPC (namingProtocol auto): the kernel closes the dead provider's
#      connection, the server removes its instance at once and pushes the change, so it leaves the
#      consumer's table ("gone") at the next report, instead of after v1's beat timeout (15 s);
#   5. half way, a replacement weight-200 provider joins;
#   6. SIGTERM to everything, a check that nothing is left running, exit 0 when the consumer saw no
#      failed call.
# Usage: scripts/demo.sh BUILD_DIR [DURATION_SECONDS]
set -uo pipefail

BUILD_DIR=${1:?usage: scripts/demo.sh BUILD_DIR [DURATION_SECONDS]}
DURATION=${2:-20}
SERVER="$BUILD_DIR/naming-server/naming-server"
PROVIDER="$BUILD_DIR/demo-provider/demo-provider"
CONSUMER="$BUILD_DIR/demo-consumer/demo-consumer"
for bin in "$SERVER" "$PROVIDER" "$CONSUMER"; do
  [ -x "$bin" ] || { echo "demo: $bin is not built" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dubbo-demo.XXXXXX")
PIDS=()
bold() { printf '\n\033[1;36m[%5.1fs] %s\033[0m\n' "$(elapsed)" "$*"; }
START_NS=$(date +%s%N)
elapsed() { awk -v s="$START_NS" -v n="$(date +%s%N)" 'BEGIN { printf "%.1f", (n - s) / 1e9 }'; }

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line FILE PATTERN: waits up to 10 s for PATTERN in FILE, prints the matching line.
wait_for_line() {
  local file=$1 pattern=$2
  for _ in $(seq 100); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "demo: timed out waiting for '$pattern' in $file:" >&2
  cat "$file" >&2
  return 1
}

start_provider() {  # start_provider NAME WEIGHT
  local log="$WORK/$1.log"
  "$PROVIDER" --registry "$REGISTRY" --weight "$2" >"$log" 2>&1 &
  PIDS+=($!)
  eval "$1_PID=$!"
  wait_for_line "$log" '^demo-provider serving' >/dev/null || exit 1
  local url
  url=$(grep -m1 -o 'thrift://[^ ]* weight [0-9]*' "$log")
  eval "$1_ADDR=$(printf '%s' "$url" | sed -E 's|thrift://([^ /]*).*|\1|')"
  printf '    %s: pid %d, %s\n' "$1" "$!" "$url"
}

bold "starting naming-server on a free port"
"$SERVER" --port 0 >"$WORK/naming-server.log" 2>&1 &
PIDS+=($!)
line=$(wait_for_line "$WORK/naming-server.log" '^naming-server listening on http://') || exit 1
ADDRESS=${line#naming-server listening on http://}
REGISTRY="nacos://$ADDRESS"
echo "    registry: $REGISTRY"

bold "starting three providers, weights 100, 200 and 300"
start_provider p100 100
start_provider p200 200
start_provider p300 300

bold "starting the consumer for ${DURATION}s (loadbalance=random; expect a 1:2:3 split)"
"$CONSUMER" --registry "$REGISTRY" --duration "$DURATION" --summary-json "$WORK/summary.json" &
CONSUMER_PID=$!
PIDS+=($CONSUMER_PID)

KILL_AT=$(awk -v d="$DURATION" 'BEGIN { printf "%.1f", d * 0.35 }')
JOIN_AT=$(awk -v d="$DURATION" 'BEGIN { printf "%.1f", d * 0.6 - d * 0.35 }')
sleep "$KILL_AT"
bold "SIGKILL the weight-200 provider (pid $p200_PID): failover must hide it"
# Reap it here with stderr off, or bash reports "Killed" with the whole command line.
{ kill -KILL "$p200_PID"; wait "$p200_PID"; } 2>/dev/null
KILLED_NS=$(date +%s%N)
# The consumer rewrites its summary at every report (each second): wait for the provider's "gone".
GONE_S=""
for _ in $(seq 50); do
  if grep -q "\"address\":\"$p200_ADDR\",\"weight\":200,\"state\":\"gone\"" \
      "$WORK/summary.json" 2>/dev/null; then
    GONE_S=$(awk -v s="$KILLED_NS" -v n="$(date +%s%N)" 'BEGIN { printf "%.1f", (n - s) / 1e9 }')
    break
  fi
  sleep 0.1
done
if [ -n "$GONE_S" ]; then
  echo "    $p200_ADDR left the consumer's table ${GONE_S}s after the kill (reports come each second)"
else
  echo "    $p200_ADDR was still listed 5 s after the kill" >&2
fi
JOIN_AT=$(awk -v j="$JOIN_AT" -v g="${GONE_S:-5}" 'BEGIN { r = j - g; printf "%.1f", (r > 0 ? r : 0) }')
sleep "$JOIN_AT"
bold "starting a replacement weight-200 provider"
start_provider p200b 200

wait "$CONSUMER_PID"
CONSUMER_RC=$?
bold "consumer exited with status $CONSUMER_RC"

bold "stopping providers (SIGTERM: unregister, drain, exit) and the naming server"
cleanup_pids=("${PIDS[@]}")
for pid in "${cleanup_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${cleanup_pids[@]}"; do wait "$pid" 2>/dev/null; done
LEFT=0
for pid in "${cleanup_pids[@]}"; do
  if kill -0 "$pid" 2>/dev/null; then echo "    still running: pid $pid" >&2; LEFT=1; fi
done
PIDS=()
if [ "$LEFT" -ne 0 ]; then
  echo "demo: processes were left running" >&2
  exit 1
fi
echo "    no demo process left running"
if [ "$CONSUMER_RC" -ne 0 ]; then
  echo "demo: FAILED (the consumer saw failed calls or none at all)" >&2
  exit 1
fi
bold "demo passed: 1:2:3 split, a provider killed without a failed call, a replacement joined"
