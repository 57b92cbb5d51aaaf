#!/usr/bin/env bash
# The bank sample's whole stack: PostgreSQL + Redis (scripts/services), the wallet-redis
# participant as a remote `txparticipant` process, and the coordinator `txcoordd` (with the
# bank-pg participant in-process).
#
#   stack.sh up                      start everything (harmless when running); prints the env
#   stack.sh env                     print TXC_URL=, TXC_PG_DSN=, TXC_REDIS_URL=, TXC_STATE_DIR=...
#   stack.sh start coordinator|participant   start one process again (e.g. after a kill -9)
#   stack.sh stop  coordinator|participant   SIGTERM, wait for exit
#   stack.sh kill  coordinator|participant   SIGKILL (a crash)
#   stack.sh status coordinator|participant  exit 0 while the process runs
#   stack.sh down [--purge]          stop everything; --purge deletes the state dir
#
# State (pid files, logs, WAL, ports, server data) lives in $TXC_STATE_DIR
# (default /tmp/txcoord-bank-<uid>-<hash of checkout>). Extra coordinator environment (e.g.
# TXC_FAILPOINTS) is passed through to txcoordd by `up` and `start coordinator`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/samples/bank"
BIN=${TXC_BIN_DIR:-$ROOT/build/bin}
export TXC_STATE_DIR=${TXC_STATE_DIR:-/tmp/txcoord-bank-$(id -u)-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}
export TXC_SERVICES_DIR="$TXC_STATE_DIR/services"
SERVICES="$ROOT/scripts/services"
TIMEOUT_S=${TXC_STACK_TIMEOUT:-60}

die() { echo "stack: $*" >&2; exit 1; }
# shellcheck source=../../scripts/lib/ports.sh
. "$ROOT/scripts/lib/ports.sh"
pick_port() { remembered_port "$TXC_STATE_DIR/$1.port" || die "no free port"; }
poll() {
  local deadline=$(( $(date +%s) + TIMEOUT_S ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

load_env() {
  mkdir -p "$TXC_STATE_DIR"
  [ -s "$TXC_STATE_DIR/token" ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TXC_STATE_DIR/token"
  export TXC_PORT; TXC_PORT=$(pick_port coordinator)
  export TXC_WALLET_PORT; TXC_WALLET_PORT=$(pick_port participant)
  export TXC_WALLET_TOKEN; TXC_WALLET_TOKEN=$(cat "$TXC_STATE_DIR/token")
  if "$SERVICES" status >/dev/null 2>&1; then eval "$("$SERVICES" env --export)"; fi
}

pidfile() { echo "$TXC_STATE_DIR/$1.pid"; }
alive() { local p; p=$(cat "$(pidfile "$1")" 2>/dev/null) && kill -0 "$p" 2>/dev/null; }

start_proc() {  # start_proc NAME CMD...
  local name=$1; shift
  alive "$name" && return 0
  nohup "$@" >>"$TXC_STATE_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
}

start_participant() {
  start_proc participant "$BIN/txparticipant" --config "$HERE/txparticipant.json"
  poll curl -sf "http://127.0.0.1:$TXC_WALLET_PORT/healthz" \
    || { tail -n 20 "$TXC_STATE_DIR/participant.log" >&2; die "txparticipant did not become healthy"; }
}

start_coordinator() {
  start_proc coordinator "$BIN/txcoordd" --config="$HERE/txcoordd.json"
  poll curl -sf "http://127.0.0.1:$TXC_PORT/readyz" \
    || { tail -n 20 "$TXC_STATE_DIR/coordinator.log" >&2; die "txcoordd did not become ready"; }
}

stop_proc() {  # stop_proc NAME SIGNAL
  local name=$1 sig=$2 p
  p=$(cat "$(pidfile "$name")" 2>/dev/null) || return 0
  if kill -0 "$p" 2>/dev/null; then
    kill "-$sig" "$p"
    poll bash -c "! kill -0 $p" || die "$name (pid $p) did not exit"
  fi
  rm -f "$(pidfile "$name")"
}

print_env() {
  echo "TXC_URL=http://127.0.0.1:$TXC_PORT"
  echo "TXC_PG_DSN=$TXC_PG_DSN"
  echo "TXC_REDIS_URL=$TXC_REDIS_URL"
  echo "TXC_STATE_DIR=$TXC_STATE_DIR"
  echo "TXC_WALLET_URL=http://127.0.0.1:$TXC_WALLET_PORT"
  echo "TXC_PG_BIN=$TXC_PG_BIN"
}

load_env
case "${1:-}" in
  up)
    "$SERVICES" start >/dev/null
    eval "$("$SERVICES" env --export)"
    "$TXC_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$TXC_PG_DSN" -f "$HERE/schema.sql" >/dev/null
    start_participant
    start_coordinator
    print_env ;;
  env) print_env ;;
  status)
    case "${2:-}" in
      coordinator|participant) alive "$2" ;;
      *) die "status coordinator|participant" ;;
    esac ;;
  start)
    case "${2:-}" in
      coordinator) start_coordinator ;;
      participant) start_participant ;;
      *) die "start coordinator|participant" ;;
    esac ;;
  stop|kill)
    sig=TERM; [ "$1" = kill ] && sig=KILL
    case "${2:-}" in
      coordinator|participant) stop_proc "$2" "$sig" ;;
      *) die "$1 coordinator|participant" ;;
    esac ;;
  down)
    stop_proc coordinator TERM || stop_proc coordinator KILL
    stop_proc participant TERM || stop_proc participant KILL
    "$SERVICES" stop
    [ "${2:-}" = --purge ] && rm -rf "$TXC_STATE_DIR"
    true ;;
  *) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
