#!/usr/bin/env bash
# The package's integration test (run by .ci/run): installs DubboRegistry, static and shared, into
# temporary prefixes, builds the examples/ against each (CMake and pkg-config), against
# add_subdirectory() and FetchContent, and against an unpacked `cpack -G DEB` package, and runs
# them against a naming-server.
#
#   tests/package/check.sh [STATIC_BUILD_DIR=build]
#
# STATIC_BUILD_DIR is a configured and built static build of the whole project (./run.sh test's);
# its naming-server program serves the examples, and its libraries are the static install. The
# shared build goes to build-shared/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
STATIC_BUILD=$(realpath "${1:-build}")
JOBS=$(nproc 2>/dev/null || echo 2)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n\033[1m-- %s\033[0m\n' "$*"; }
fail() { echo "check.sh: $*" >&2; exit 1; }
EXAMPLES=(echo-provider lb-consumer async-consumer)

# wait_for_line FILE PATTERN: until FILE has a line matching PATTERN (30 s at most).
wait_for_line() {
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$1" >&2
  fail "no '$2' in $1 after 30 s"
}

# run_examples DIR: runs DIR/<example>/<example> against a fresh naming-server: two providers,
# both consumers, then SIGTERM to the providers (each must unregister, drain and exit 0).
run_examples() {
  local dir=$1 log=$WORK/run-$RANDOM
  mkdir -p "$log"
  "$STATIC_BUILD/naming-server/naming-server" --port 0 >"$log/server" 2>&1 &
  local server=$!
  PIDS+=("$server")
  wait_for_line "$log/server" listening
  local registry="nacos://$(grep -o 'http://[^ ]*' "$log/server" | head -n1 | sed 's|http://||')"
  local providers=()
  for i in 1 2; do
    "$dir/echo-provider/echo-provider" --registry "$registry" >"$log/provider$i" 2>&1 &
    providers+=($!)
    PIDS+=($!)
  done
  for i in 1 2; do wait_for_line "$log/provider$i" "serving echo://"; done
  "$dir/lb-consumer/lb-consumer" --registry "$registry" --providers 2 --calls 10 >"$log/lb" 2>&1 ||
    { cat "$log/lb" >&2; fail "lb-consumer failed"; }
  # The custom balancer sends every call to the provider with the smallest address.
  grep -q '10 call(s) answered by' "$log/lb" || { cat "$log/lb" >&2; fail "lb-consumer spread calls"; }
  "$dir/async-consumer/async-consumer" --registry "$registry" --providers 2 --calls 20 \
    >"$log/async" 2>&1 || { cat "$log/async" >&2; fail "async-consumer failed"; }
  grep -q '20 of 20 calls succeeded' "$log/async" || fail "async-consumer: $(tail -n1 "$log/async")"
  for i in 0 1; do
    kill -TERM "${providers[$i]}"
    wait "${providers[$i]}" || { cat "$log/provider$((i + 1))" >&2; fail "echo-provider exit status $?"; }
    grep -q 'unregistered and drained' "$log/provider$((i + 1))" ||
      { cat "$log/provider$((i + 1))" >&2; fail "echo-provider did not stop cleanly"; }
  done
  kill -TERM "$server"
  wait "$server" || true
  tail -n1 "$log/lb" "$log/async"
}

# build_examples PREFIX DIR: the examples as standalone projects against the package in PREFIX.
build_examples() {
  local prefix=$1 dir=$2
  for example in "${EXAMPLES[@]}"; do
    cmake -S "examples/$example" -B "$dir/$example" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$dir/$example" -j "$JOBS" >/dev/null
  done
  # The Makefile example, built out of the source tree (VPATH finds main.cc). Nothing records where
  # the libraries are, so a shared install needs LD_LIBRARY_PATH to run it.
  local pcdir
  pcdir=$(dirname "$(find "$prefix" -name dubbo-registry.pc | head -n1)")
  PKG_CONFIG_PATH=$pcdir make -s -C "$dir" -f "$ROOT/examples/pkg-config/Makefile" \
    VPATH="$ROOT/examples/pkg-config" "${@:3}" >/dev/null
  LD_LIBRARY_PATH=$(dirname "$pcdir") "$dir/registry-roundtrip" | tail -n1
}

step "static install"
cmake --install "$STATIC_BUILD" --prefix "$WORK/static" >/dev/null
build_examples "$WORK/static" "$WORK/ex-static"
run_examples "$WORK/ex-static"

step "shared build and install"
cmake -S . -B build-shared -G Ninja -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDUBBO_REGISTRY_BUILD_BENCHMARKS=OFF -DDUBBO_REGISTRY_BUILD_DEMOS=OFF -DDUBBO_REGISTRY_INSTALL=ON \
  >/dev/null
cmake --build build-shared -j "$JOBS"
cmake --install build-shared --prefix "$WORK/shared" >/dev/null
scripts/check-exports.sh "$WORK/shared"
build_examples "$WORK/shared" "$WORK/ex-shared"
run_examples "$WORK/ex-shared"

step "add_subdirectory"
cmake -S tests/package/add-subdirectory -B "$WORK/subdir" -G Ninja \
  -DDUBBO_REGISTRY_SOURCE_DIR="$ROOT" >/dev/null
cmake --build "$WORK/subdir" -j "$JOBS" >/dev/null
run_examples "$WORK/subdir"

step "FetchContent (this repository at $(git rev-parse --short HEAD))"
cmake -S tests/package/fetch-content -B "$WORK/fetch" -G Ninja -DDUBBO_REGISTRY_GIT="$ROOT" \
  -DDUBBO_REGISTRY_TAG="$(git rev-parse HEAD)" >/dev/null
cmake --build "$WORK/fetch" -j "$JOBS" >/dev/null
run_examples "$WORK/fetch"

step "Debian package (cpack -G DEB)"
(cd build-shared && cpack -G DEB >/dev/null)
deb=$(ls build-shared/*.deb | head -n1)
dpkg-deb -c "$deb" >"$WORK/deb-contents"
for want in 'include/dubbo/registry/url.h' 'include/dubbo/registry/version.h' \
            'include/dubbo/cluster/failover_cluster.h' 'include/dubbo/registry/nacos/nacos_registry.h' \
            'include/dubbo/naming_server/naming_server.h' 'libdubbo_registry.so.0.2' \
            'libdubbo_nacos.so' 'cmake/DubboRegistry/DubboRegistryConfig.cmake' \
            'cmake/DubboRegistry/DubboRegistryConfigVersion.cmake' 'pkgconfig/dubbo-nacos.pc' \
            'LICENSE'; do
  grep -q "$want" "$WORK/deb-contents" || fail "$deb lacks $want"
done
if grep -q '/internal/' "$WORK/deb-contents"; then fail "$deb ships internal headers"; fi
dpkg-deb -I "$deb" | grep -E 'Package|Version|Depends'
dpkg-deb -x "$deb" "$WORK/deb"
export LD_LIBRARY_PATH
LD_LIBRARY_PATH=$(dirname "$(find "$WORK/deb" -name 'libdubbo_registry.so' | head -n1)")
build_examples "$WORK/deb/usr" "$WORK/ex-deb" PKG_CONFIG="pkg-config --define-prefix"
run_examples "$WORK/ex-deb"
unset LD_LIBRARY_PATH

step "package checks passed"
