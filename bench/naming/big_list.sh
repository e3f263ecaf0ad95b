#!/usr/bin/env bash
# A small list query's latency while other clients repeat the list query of a large service.
#
#   bench/naming/big_list.sh [SERVER_BIN [SERVER_FLAGS...]]
#
# Starts SERVER_BIN (default build/naming-server/naming-server) on core 0, registers one service of
# INSTANCES (300) instances with METADATA_BYTES (12000) bytes of metadata each (a ~3.7 MB list
# answer, under every cap) and one service of one instance, then runs on core 1, for DURATION (10s):
# BIG_CONNECTIONS (4) connections repeating the large list, and one connection repeating the small
# list with wrk --latency. Prints both wrk summaries. Needs wrk, curl and taskset.
set -euo pipefail

SERVER_BIN=${1:-build/naming-server/naming-server}
shift || true
INSTANCES=${INSTANCES:-300}
METADATA_BYTES=${METADATA_BYTES:-12000}
BIG_CONNECTIONS=${BIG_CONNECTIONS:-4}
DURATION=${DURATION:-10s}

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

taskset -c 0 "$SERVER_BIN" --port 0 --heartbeat-timeout-ms 3600000 --ip-delete-timeout-ms 7200000 \
  "$@" >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$TMP/server.out" && break; sleep 0.05; done
PORT=$(sed -n 's/^naming-server listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/server.out")
[[ -n $PORT ]] || { cat "$TMP/server.err" >&2; echo "naming-server did not start" >&2; exit 1; }
URL=http://127.0.0.1:$PORT/nacos/v1/ns

# Dubbo-style metadata: one long value (the methods list) plus a few short keys.
LONG=$(head -c "$METADATA_BYTES" /dev/zero | tr '\0' 'm')
METADATA="{\"side\":\"provider\",\"release\":\"3.2.0\",\"methods\":\"$LONG\"}"
printf '%s' "$METADATA" >"$TMP/metadata.json"
REFUSED=0  # Registrations the server refused (the answer cap refuses the one that would break it).
for ((i = 0; i < INSTANCES; i++)); do
  CODE=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/instance" \
    --data-urlencode "metadata@$TMP/metadata.json" \
    -d "serviceName=big&ip=10.1.$((i / 256)).$((i % 256))&port=20880")
  [[ $CODE == 200 ]] || REFUSED=$((REFUSED + 1))
done
curl -sf -X POST "$URL/instance" -d "serviceName=small&ip=10.2.0.1&port=20880" >/dev/null
BIG_BYTES=$(curl -s -o /dev/null -w '%{size_download} bytes, HTTP %{http_code}' \
  "$URL/instance/list?serviceName=big")
echo "large list answer: $BIG_BYTES ($INSTANCES registrations, $REFUSED refused); server $SERVER_BIN $*"

taskset -c 1 wrk -t1 -c"$BIG_CONNECTIONS" -d"$DURATION" --timeout 10s \
  "$URL/instance/list?serviceName=big" >"$TMP/big.txt" 2>&1 &
BIG_PID=$!
taskset -c 1 wrk -t1 -c1 -d"$DURATION" --timeout 10s --latency \
  "$URL/instance/list?serviceName=small" >"$TMP/small.txt" 2>&1
wait "$BIG_PID"
echo "--- large list, $BIG_CONNECTIONS connections:"
grep -E 'Latency|Requests/sec|Transfer/sec|Non-2xx|errors' "$TMP/big.txt"
echo "--- small list, 1 connection:"
grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx|errors' "$TMP/small.txt"
