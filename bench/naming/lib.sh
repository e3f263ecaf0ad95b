# Shell helpers shared by the naming-server bench scripts (sourced, not run).
# shellcheck shell=bash

# True while PID runs (a zombie, dead but not yet reaped, does not count).
alive() {
  local stat
  [[ -r /proc/$1/stat ]] || return 1
  read -r stat <"/proc/$1/stat" || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# stop_pids PID...: SIGTERM to each, up to 5 s for each to exit, then SIGKILL; reaps the children.
stop_pids() {
  local pid
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "$@"; do
    for _ in {1..50}; do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

# start_naming_server OUT ERR COMMAND...: runs COMMAND (a naming-server with --port 0, possibly
# behind taskset, which execs it) in the background with stdout to OUT and stderr to ERR, and
# waits (up to 5 s, or until it exits) for its ready line. Sets SERVER_PID and PORT; fails when
# it did not start.
start_naming_server() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err" &
  # shellcheck disable=SC2034  # SERVER_PID and PORT are for the caller.
  SERVER_PID=$!
  for _ in {1..100}; do
    grep -q listening "$out" && break
    alive "$SERVER_PID" || break
    sleep 0.05
  done
  PORT=$(sed -n 's/^naming-server listening on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$out")
  [[ -n $PORT ]] || { cat "$err" >&2; echo "naming-server did not start" >&2; return 1; }
}
