#!/usr/bin/env bash
# Throughput while one of three providers hangs (SIGSTOP: its port stays open, it never answers),
# against the throughput of the same consumer process just before, then after SIGCONT.
#
#   bench/rpc/hung.sh BUILD_DIR [BEFORE_S=5] [STOPPED_S=12] [AFTER_S=6] [THREADS=4] [TIMEOUT_MS=1000]
#
# One naming-server, three demo-providers (weight 100 each) and one demo-consumer (random, default
# breaker and outlier options, --timeout TIMEOUT_MS) printing its table every second. After one
# second of warm-up the script measures BEFORE_S seconds, SIGSTOPs one provider right after the
# consumer's table for that second, measures STOPPED_S seconds, SIGCONTs it and measures AFTER_S
# seconds more. The default STOPPED_S stays under the 15 s after which the naming server marks a
# silent instance unhealthy, so the registry never removes the hung provider: what keeps the
# throughput up is the cluster alone. Prints calls/s of each phase, the worst one-second window
# while stopped, the stopped/before ratio and the consumer's failed calls. Driven by the consumer's
# output (each phase starts when the table line for its second appears), not by sleeps.
set -euo pipefail
BUILD_DIR=${1:?usage: bench/rpc/hung.sh BUILD_DIR [BEFORE_S] [STOPPED_S] [AFTER_S] [THREADS] [TIMEOUT_MS]}
BEFORE=${2:-5}
STOPPED=${3:-12}
AFTER=${4:-6}
THREADS=${5:-4}
TIMEOUT_MS=${6:-1000}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() { # FILE PATTERN
  until grep -q "$2" "$1"; do sleep 0.05; done
}
"$BUILD_DIR/naming-server/naming-server" --port 0 >"$WORK/server.log" 2>&1 &
PIDS+=($!)
wait_for "$WORK/server.log" listening
REGISTRY="nacos://$(grep -o 'http://[^ ]*' "$WORK/server.log" | sed 's|http://||')"
PROVIDER_PIDS=()
for i in 1 2 3; do
  "$BUILD_DIR/demo-provider/demo-provider" --registry "$REGISTRY" --weight 100 >"$WORK/provider$i.log" 2>&1 &
  PIDS+=($!)
  PROVIDER_PIDS+=($!)
  wait_for "$WORK/provider$i.log" serving
done
HUNG_PID=${PROVIDER_PIDS[1]}
HUNG=$(grep -o 'thrift://[^ ]*' "$WORK/provider2.log" | sed 's|thrift://||')

T0=1
T1=$((T0 + BEFORE))
T2=$((T1 + STOPPED))
T3=$((T2 + AFTER))
"$BUILD_DIR/demo-consumer/demo-consumer" --registry "$REGISTRY?file=$WORK/consumer.cache" \
  --duration $((T3 + 1)) --threads "$THREADS" --timeout "$TIMEOUT_MS" --report-ms 1000 \
  >"$WORK/consumer.out" 2>&1 &
CONSUMER=$!
PIDS+=($CONSUMER)

# The cumulative call count of the consumer's table line for second N (waits for it).
calls_at() {
  local pattern
  pattern=$(printf -- '^--  t= *%d\\.[0-9]s' "$1")
  wait_for "$WORK/consumer.out" "$pattern"
  grep "$pattern" "$WORK/consumer.out" | head -1 | sed 's/.*calls=\([0-9]*\).*/\1/'
}
echo "3 providers, $THREADS threads, timeout ${TIMEOUT_MS} ms; provider $HUNG hangs from t=${T1}s to t=${T2}s"
c0=$(calls_at $T0)
c1=$(calls_at $T1)
kill -STOP "$HUNG_PID"
per_second=()
prev=$c1
for t in $(seq $((T1 + 1)) $T2); do
  c=$(calls_at "$t")
  per_second+=($((c - prev)))
  prev=$c
done
c2=$prev
kill -CONT "$HUNG_PID"
c3=$(calls_at $T3)
set +e
wait "$CONSUMER"
rc=$?
set -e
worst=$(printf '%s\n' "${per_second[@]}" | sort -n | head -1)
before=$(((c1 - c0) / BEFORE))
stopped=$(((c2 - c1) / STOPPED))
after=$(((c3 - c2) / AFTER))
printf 'before   %8d calls/s\n' "$before"
printf 'stopped  %8d calls/s (worst second %d)   ratio %.3f\n' "$stopped" "$worst" \
  "$(awk -v a="$stopped" -v b="$before" 'BEGIN { print a / b }')"
printf 'resumed  %8d calls/s\n' "$after"
echo "per second while stopped: ${per_second[*]}"
grep -A6 '^== summary' "$WORK/consumer.out" | grep -F "$HUNG" | sed 's/^/hung provider at the end: /'
tail -1 "$WORK/consumer.out"
echo "consumer exit status $rc (0: no call failed)"
