#!/usr/bin/env bash
# RPC throughput through registry + load balancer + connection pool, against a plain Thrift client
# calling the same single provider, in the same run (issue 5's goal: ratio >= 0.97).
#
#   bench/rpc/run.sh BUILD_DIR [SECONDS_PER_RUN=10] [ROUNDS=3] [THREADS=4]
#   OTHER_BUILD=DIR bench/rpc/run.sh BUILD_DIR ...   also runs DIR's demo-consumer through the
#                                                    registry in every round (e.g. a shared build
#                                                    against a static one), same server and provider
#
# One naming-server and one demo-provider; then ROUNDS rounds of: demo-consumer --direct (plain
# Thrift client, no registry) and demo-consumer through the registry, alternating so that drift in
# machine load hits both alike. Prints calls/s of every run, the medians and their ratio.
set -euo pipefail
BUILD_DIR=${1:?usage: bench/rpc/run.sh BUILD_DIR [SECONDS] [ROUNDS] [THREADS]}
SECONDS_PER_RUN=${2:-10}
ROUNDS=${3:-3}
THREADS=${4:-4}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

"$BUILD_DIR/naming-server/naming-server" --port 0 >"$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$WORK/server.log" && break; sleep 0.1; done
REGISTRY="nacos://$(grep -o 'http://[^ ]*' "$WORK/server.log" | sed 's|http://||')"
"$BUILD_DIR/demo-provider/demo-provider" --registry "$REGISTRY" --weight 100 >"$WORK/provider.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q serving "$WORK/provider.log" && break; sleep 0.1; done
PROVIDER=$(grep -o 'thrift://[^ ]*' "$WORK/provider.log" | sed 's|thrift://||')
echo "provider $PROVIDER, registry $REGISTRY, $THREADS threads, ${SECONDS_PER_RUN}s per run"

rate() { sed -n 's/.*calls in .* s (\([0-9]*\)\/s).*/\1/p' "$1"; }
direct=()
registry=()
other=()
for round in $(seq "$ROUNDS"); do
  "$BUILD_DIR/demo-consumer/demo-consumer" --direct "$PROVIDER" --duration "$SECONDS_PER_RUN" \
    --threads "$THREADS" --quiet >"$WORK/direct.out" 2>&1
  "$BUILD_DIR/demo-consumer/demo-consumer" --registry "$REGISTRY" --duration "$SECONDS_PER_RUN" \
    --threads "$THREADS" --quiet >"$WORK/registry.out" 2>&1
  d=$(rate "$WORK/direct.out"); r=$(rate "$WORK/registry.out")
  direct+=("$d"); registry+=("$r")
  printf 'round %d: plain thrift %8d calls/s   registry+lb+pool %8d calls/s   ratio %.3f\n' \
    "$round" "$d" "$r" "$(awk -v a="$r" -v b="$d" 'BEGIN { print a / b }')"
  if [ -n "${OTHER_BUILD:-}" ]; then
    "$OTHER_BUILD/demo-consumer/demo-consumer" --registry "$REGISTRY" --duration "$SECONDS_PER_RUN" \
      --threads "$THREADS" --quiet >"$WORK/other.out" 2>&1
    o=$(rate "$WORK/other.out")
    other+=("$o")
    printf '         %s registry+lb+pool %8d calls/s   ratio to plain %.3f, to %s %.3f\n' \
      "$OTHER_BUILD" "$o" "$(awk -v a="$o" -v b="$d" 'BEGIN { print a / b }')" "$BUILD_DIR" \
      "$(awk -v a="$o" -v b="$r" 'BEGIN { print a / b }')"
  fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
md=$(median "${direct[@]}"); mr=$(median "${registry[@]}")
printf 'median: plain thrift %.0f calls/s, registry+lb+pool %.0f calls/s, ratio %.3f\n' "$md" "$mr" \
  "$(awk -v a="$mr" -v b="$md" 'BEGIN { print a / b }')"
if [ -n "${OTHER_BUILD:-}" ]; then
  mo=$(median "${other[@]}")
  printf 'median: %s registry+lb+pool %.0f calls/s, ratio to plain %.3f, to %s %.3f\n' \
    "$OTHER_BUILD" "$mo" "$(awk -v a="$mo" -v b="$md" 'BEGIN { print a / b }')" "$BUILD_DIR" \
    "$(awk -v a="$mo" -v b="$mr" 'BEGIN { print a / b }')"
fi
