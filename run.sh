#!/usr/bin/env bash
# The project's two entry points (see README.md):
#   ./run.sh test   install what is missing, build in build/, run the whole ctest suite
#   ./run.sh demo   install what is missing, build, run the Thrift demo end to end
# Running either again installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")"

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}

# Debian packages the build and the tests need.
BUILD_PACKAGES=(cmake ninja-build g++ pkg-config libgtest-dev libgmock-dev libbenchmark-dev
  rapidjson-dev zlib1g-dev libevent-dev libcurl4-openssl-dev thrift-compiler libthrift-dev libboost-dev
  libnghttp2-dev
  # protobuf and grpc++ are test-only peers: independent protobuf, HTTP/2 and gRPC implementations
  # the gRPC tests check ours against. No library links them.
  libprotobuf-dev protobuf-compiler libgrpc++-dev protobuf-compiler-grpc)
# Extra packages for .ci/run: clang with its sanitizer and libFuzzer runtimes; make, file and
# dpkg-dev (dpkg-shlibdeps) for the package checks (the pkg-config example, cpack -G DEB).
CI_PACKAGES=(clang libclang-rt-dev make file dpkg-dev)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# ensure_packages PKG...: installs the packages that are not installed yet (apt-get, via sudo when
# not root). Does nothing, and touches no network, when everything is present.
ensure_packages() {
  local missing=()
  local pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "error: missing packages (${missing[*]}) and not root, with no sudo to install them" >&2
      exit 1
    fi
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# configure_and_build DIR [CMAKE_ARGS...]
configure_and_build() {
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    log "configuring $dir"
    cmake -S . -B "$dir" -G Ninja "$@"
  fi
  log "building $dir"
  cmake --build "$dir" -j "$JOBS"
}

# ensure_interop_deps: node and npm (Debian's, unless the machine has its own), then the pinned
# official Nacos SDKs for tests/interop (nacos-naming, and the Rust SDK's node binding), reinstalled
# only when package-lock.json changes.
# The binding lists optional per-platform packages of which some were never published, so `npm ci`
# refuses its lock ("Missing: ... from lock file"); `npm install --no-save` then installs the same
# locked versions without rewriting package.json or the lock.
ensure_interop_deps() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    ensure_packages nodejs npm
  fi
  local dir=tests/interop
  local npm_flags=(--no-audit --no-fund --loglevel=error)
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    log "installing the interop test dependencies (npm ci)"
    if ! (cd "$dir" && npm ci "${npm_flags[@]}" 2>/dev/null); then
      log "npm ci refused the lock; installing the locked versions with npm install --no-save"
      (cd "$dir" && npm install --no-save "${npm_flags[@]}")
    fi
  fi
}

cmd_test() {
  ensure_packages "${BUILD_PACKAGES[@]}"
  ensure_interop_deps
  configure_and_build "$BUILD_DIR"
  log "running tests"
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
}

cmd_demo() {
  ensure_packages "${BUILD_PACKAGES[@]}"
  configure_and_build "$BUILD_DIR"
  scripts/demo.sh "$BUILD_DIR" "${DEMO_SECONDS:-20}"
}

usage() {
  cat <<USAGE
usage: ./run.sh test | demo
  test   install missing Debian packages, build in $BUILD_DIR/, run every test (ctest)
  demo   install and build as for test, then run the Thrift demo (scripts/demo.sh; about 25 s)
USAGE
}

case "${1:-}" in
  test) cmd_test ;;
  demo) cmd_demo ;;
  ci-deps) ensure_packages "${BUILD_PACKAGES[@]}" "${CI_PACKAGES[@]}" ;;  # used by .ci/run
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
