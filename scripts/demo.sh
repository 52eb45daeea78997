#!/usr/bin/env bash
# `make demo`: a throw-away MariaDB master + replica behind rebound, to try a failover by hand.
#
# Starts both servers with scripts/cluster.sh in a temporary directory, writes the router config
# from conf/demo.conf, runs build/rebound (or $REBOUND_BIN) in the background, prints how to
# connect and how to fail the master over, then waits. Ctrl-C stops rebound and both servers,
# removes the directory and exits 0 (make sees no error: the wait holds the terminal's
# foreground on its own, so Ctrl-C reaches neither make nor rebound). If rebound dies, its log
# is shown and the demo fails. With DEMO_SECONDS=N it exits by itself after N seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${REBOUND_BIN:-build/rebound}
READY_TIMEOUT=15 # seconds for rebound to route a first login
STOP_TIMEOUT=10  # seconds for rebound to exit after SIGTERM

DEMO_DIR=""
REBOUND_PID=""

die() {
    echo "demo: error: $*" >&2
    exit 1
}

# Stop rebound (SIGTERM, bounded wait, SIGKILL) and the cluster, then remove the directory.
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local i
    trap - EXIT INT TERM
    if [ -n "$REBOUND_PID" ] && kill -0 "$REBOUND_PID" 2>/dev/null; then
        kill -TERM "$REBOUND_PID" 2>/dev/null || true
        for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
            kill -0 "$REBOUND_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$REBOUND_PID" 2>/dev/null || true
        wait "$REBOUND_PID" 2>/dev/null || true
    fi
    if [ -n "$DEMO_DIR" ]; then
        if [ -f "$DEMO_DIR/cluster.env" ]; then scripts/cluster.sh stop "$DEMO_DIR" || true; fi
        rm -rf "$DEMO_DIR"
    fi
    echo "demo: stopped."
}

# First port of the list that 127.0.0.1 can bind, else one the kernel picks.
pick_port() {
    python3 - "$@" <<'EOF'
import socket, sys
for p in [int(a) for a in sys.argv[1:]] + [0]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
EOF
}

# Wait until Ctrl-C (exit 0) or until process $1 is gone (exit 1). In a terminal the wait takes
# the terminal's foreground process group for itself, so the terminal's SIGINT reaches only it,
# not make (which would report the demo as interrupted) nor rebound; the group is handed back
# before it returns.
wait_for_ctrl_c() {
    python3 - "$1" <<'EOF'
import os, signal, sys, time
pid = int(sys.argv[1])
try:
    fd = os.open("/dev/tty", os.O_RDWR)  # this code comes on stdin: the terminal is not there
except OSError:
    fd = None  # no terminal (a script, CI): nothing to take over
old = None
if fd is not None:
    old = os.tcgetpgrp(fd)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    os.setpgid(0, 0)
    os.tcsetpgrp(fd, os.getpgrp())
rc = 1
try:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
except KeyboardInterrupt:
    rc = 0
finally:
    if fd is not None:
        os.tcsetpgrp(fd, old)
sys.exit(rc)
EOF
}

# Log in through rebound with the real client until it works (bounded) or rebound exits.
wait_router_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT))
    while :; do
        kill -0 "$REBOUND_PID" 2>/dev/null || {
            cat "$DEMO_DIR/rebound.log" >&2
            die "rebound exited, log above"
        }
        if mariadb --no-defaults --connect-timeout=2 -h127.0.0.1 -P"$ROUTER_PORT" -uapp \
            -papp-pass appdb -N -e 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "no login through rebound after ${READY_TIMEOUT}s"
        sleep 0.2
    done
}

main() {
    [ -x "$BIN" ] || die "$BIN not found: run 'make' first"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rebound-demo.XXXXXX")

    echo "demo: starting MariaDB master + replica in $DEMO_DIR ..."
    scripts/cluster.sh start "$DEMO_DIR" 1
    # shellcheck disable=SC1091
    . "$DEMO_DIR/cluster.env"

    ROUTER_PORT=$(pick_port 3306 13306)
    ADMIN_PORT=$(pick_port 6032 16032)
    STATS_PORT=$(pick_port 8404 18404)
    HEALTH_LOG=$DEMO_DIR/health.log
    sed -e "s|@ROUTER_PORT@|$ROUTER_PORT|g" -e "s|@MASTER_PORT@|$MASTER_PORT|g" \
        -e "s|@REPLICA1_PORT@|$REPLICA1_PORT|g" -e "s|@HEALTH_LOG@|$HEALTH_LOG|g" \
        -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" -e "s|@STATS_PORT@|$STATS_PORT|g" \
        conf/demo.conf >"$DEMO_DIR/rebound.conf"
    "$BIN" -c -f "$DEMO_DIR/rebound.conf" || die "config check failed"

    # Its own session, as the servers have: a Ctrl-C in this terminal is the demo's to handle.
    setsid "$BIN" -f "$DEMO_DIR/rebound.conf" 2>"$DEMO_DIR/rebound.log" </dev/null &
    REBOUND_PID=$!
    wait_router_ready

    cat <<EOF

rebound is running (pid $REBOUND_PID) on 127.0.0.1:$ROUTER_PORT
  master   127.0.0.1:$MASTER_PORT
  replica1 127.0.0.1:$REPLICA1_PORT (read-only, replicating from master)

Connect through rebound (the answer is the port of the server you landed on):
  mariadb -h127.0.0.1 -P$ROUTER_PORT -uapp -papp-pass appdb -e 'SELECT @@port'

Watch the health log:
  tail -f $HEALTH_LOG

Look at the router in SQL (password demo-admin-secret):
  mariadb -h127.0.0.1 -P$ADMIN_PORT -uadmin -pdemo-admin-secret -e 'SHOW SERVERS'
  mariadb -h127.0.0.1 -P$ADMIN_PORT -uadmin -pdemo-admin-secret -e 'SHOW HEALTH LOG LIMIT 10'
  mariadb -h127.0.0.1 -P$ADMIN_PORT -uadmin -pdemo-admin-secret \\
      -e "UPDATE servers SET admin_state='drain' WHERE name='master'"   # then 'ready' again
Metrics: curl -s http://127.0.0.1:$STATS_PORT/metrics    (or open http://127.0.0.1:$STATS_PORT/)

Try a failover, in another terminal from $ROOT:
  scripts/cluster.sh stop-one $DEMO_DIR master    # new sessions land on replica1; DOWN within ~2 s
  scripts/cluster.sh start-one $DEMO_DIR master   # once UP, sessions on replica1 are killed
  (then connect again: you are back on the master; the health log shows each step)

Config: $DEMO_DIR/rebound.conf   rebound's own log: $DEMO_DIR/rebound.log
EOF
    if [ -n "${DEMO_SECONDS:-}" ]; then
        echo "Stopping by itself in ${DEMO_SECONDS}s."
        local deadline=$((SECONDS + DEMO_SECONDS))
        while [ $SECONDS -lt $deadline ] && kill -0 "$REBOUND_PID" 2>/dev/null; do sleep 0.2; done
    else
        echo "Press Ctrl-C to stop everything."
        wait_for_ctrl_c "$REBOUND_PID" || true
    fi
    if ! kill -0 "$REBOUND_PID" 2>/dev/null; then
        wait "$REBOUND_PID" && rc=0 || rc=$?
        REBOUND_PID=""
        echo "demo: rebound exited with status $rc, log: " >&2
        cat "$DEMO_DIR/rebound.log" >&2
        exit 1
    fi
    exit 0 # the EXIT trap stops everything and says goodbye
}

main "$@"
