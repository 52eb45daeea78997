#!/usr/bin/env bash
# Start and stop a local MariaDB master + N replicas with real replication, for tests, demo, bench.
#
# Usage:
#   scripts/cluster.sh [-v] start     DIR [NREPLICAS]   bootstrap + start master and replicas (default 2)
#   scripts/cluster.sh [-v] stop      DIR               stop every instance of DIR
#   scripts/cluster.sh [-v] start-one DIR NAME          restart one instance (same port and datadir)
#   scripts/cluster.sh [-v] stop-one  DIR NAME          stop one instance (SIGTERM, wait for exit)
#
# NAME is master, replica1, replica2, ...  Layout of DIR after `start`:
#   DIR/template/      bootstrapped datadir, copied for every instance (kept for later starts)
#   DIR/NAME/          datadir of instance NAME
#   DIR/NAME.sock      its unix socket (root logs in there without a password)
#   DIR/NAME.pid       its pid, written by this script (mariadbd keeps its own in NAME.server.pid,
#                      so a reader never sees the file half-written by the server)
#   DIR/NAME.err       its error log
#   DIR/NAME.opts      optional, written by the caller: extra mariadbd options, one per line
#   DIR/cluster.env    shell-sourceable: NREPLICAS, MASTER_PORT, REPLICA1_PORT, ..., MASTER_PID, ...
#
# Accounts (all from 127.0.0.1): app/app-pass (ALL on appdb.*), rebound_check/check-pass (USAGE),
# rebound_nopw without password (USAGE), repl/repl-pass (REPLICATION SLAVE); root via the socket.
#
# Readiness is always probed with a real client login over the unix socket: bare TCP probes would
# count as connect errors and get 127.0.0.1 blocked (max_connect_errors).
# Prints nothing but errors unless -v.  Killing with -9 or SIGSTOP is left to the caller (pid file).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd) # scripts/, for free-ports

VERBOSE=0
START_TIMEOUT=30 # seconds for an instance to accept a login
STOP_TIMEOUT=30  # seconds for an instance to exit after SIGTERM
REPL_TIMEOUT=30  # seconds for a replica's IO and SQL threads to run

log() { if [ "$VERBOSE" = 1 ]; then echo "cluster: $*" >&2; fi; }
die() {
    echo "cluster: error: $*" >&2
    exit 1
}
usage() {
    sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Upper-case shell variable prefix for an instance name: replica1 -> REPLICA1.
var_name() { echo "$1" | tr '[:lower:]' '[:upper:]'; }

# server-id of an instance: master 1, replicaN N+1.
server_id() {
    case "$1" in
    master) echo 1 ;;
    replica[0-9]*) echo $((${1#replica} + 1)) ;;
    *) die "unknown instance name '$1' (master, replica1, replica2, ...)" ;;
    esac
}

# True while PID is a live (not zombie) mariadbd serving DIR/NAME; guards against recycled pids.
is_running() {
    local pid=$1 datadir=$2 state
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) \([A-Za-z]\).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    case "$state" in Z | X | x) return 1 ;; esac
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qx -- "--datadir=$datadir"
}

# Pid recorded for instance NAME, or empty.
read_pid() {
    local f="$DIR/$1.pid"
    if [ -s "$f" ]; then tr -dc '0-9' <"$f"; fi
}

# Run SQL as root on instance NAME through its unix socket; prints rows (-N: no column names).
sql() {
    mariadb --no-defaults --connect-timeout=5 -uroot --socket="$DIR/$1.sock" -B "${@:3}" -e "$2"
}

# Create DIR/template once: system tables plus the test accounts and the appdb database.
bootstrap_template() {
    [ -f "$DIR/template/.bootstrapped" ] && return 0
    rm -rf "$DIR/template"
    mkdir -p "$DIR/template"
    cat >"$DIR/template.sql" <<'EOF'
FLUSH PRIVILEGES;
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';
FLUSH PRIVILEGES;
CREATE DATABASE IF NOT EXISTS appdb;
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pass';
GRANT ALL ON appdb.* TO 'app'@'127.0.0.1';
CREATE USER 'rebound_check'@'127.0.0.1' IDENTIFIED BY 'check-pass';
CREATE USER 'rebound_nopw'@'127.0.0.1';
CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-pass';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
EOF
    log "bootstrapping $DIR/template"
    # Temporary files in DIR, not the shared /tmp: clusters of concurrent test runs must not
    # meet there (a bootstrap failed removing a temporary table another one had made).
    mkdir -p "$DIR/tmp"
    if ! mariadb-install-db --no-defaults "${USER_OPT[@]}" --datadir="$DIR/template" \
        --tmpdir="$DIR/tmp" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
        --extra-file="$DIR/template.sql" --innodb-buffer-pool-size=32M \
        --innodb-log-file-size=8M >"$DIR/template.log" 2>&1; then
        cat "$DIR/template.log" >&2
        die "mariadb-install-db failed (log: $DIR/template.log)"
    fi
    touch "$DIR/template/.bootstrapped"
}

# Launch mariadbd for NAME in the background (own session, so a terminal's Ctrl-C does not hit it)
# and record its pid; does not wait.
launch() {
    local name=$1 port=$2 id
    id=$(server_id "$name")
    mkdir -p "$DIR/tmp"
    local opts=(--no-defaults "${USER_OPT[@]}" --datadir="$DIR/$name" --tmpdir="$DIR/tmp"
        --socket="$DIR/$name.sock" --port="$port" --bind-address=127.0.0.1 --port-open-timeout=10
        --server-id="$id" --log-bin="$name-bin" --binlog-format=ROW --relay-log="$name-relay-bin"
        --skip-name-resolve --pid-file="$DIR/$name.server.pid" --log-error="$DIR/$name.err"
        --max-connections=6000 --max-connect-errors=1000000 --slave-net-timeout=10
        --innodb-buffer-pool-size=32M --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=2
        --innodb-doublewrite=0 --sync-binlog=0 --performance-schema=OFF)
    [ "$name" = master ] || opts+=(--read-only=1)
    # Extra options for this instance, one per line, from DIR/NAME.opts if present (tests use it
    # to start an instance with TLS certificates); it applies to every later start of NAME.
    local line
    if [ -f "$DIR/$name.opts" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            [ -z "$line" ] || opts+=("$line")
        done <"$DIR/$name.opts"
    fi
    log "starting $name on 127.0.0.1:$port"
    setsid mariadbd "${opts[@]}" </dev/null >>"$DIR/$name.err" 2>&1 &
    echo $! >"$DIR/$name.pid"
}

# Wait (bounded) until NAME accepts a root login over its socket.
wait_ready() {
    local name=$1 pid deadline=$((SECONDS + START_TIMEOUT))
    pid=$(read_pid "$name")
    while :; do
        if ! is_running "$pid" "$DIR/$name"; then
            tail -n 20 "$DIR/$name.err" >&2 || true
            die "$name (pid $pid) exited during start-up, see $DIR/$name.err"
        fi
        if sql "$name" 'SELECT 1' >/dev/null 2>&1; then
            log "$name ready (pid $pid)"
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "$name not ready after ${START_TIMEOUT}s, see $DIR/$name.err"
        sleep 0.1
    done
}

# Point replica NAME at the master and wait (bounded) until both replication threads run.
setup_replication() {
    local name=$1 status deadline=$((SECONDS + REPL_TIMEOUT))
    sql "$name" "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$MASTER_PORT,
        MASTER_USER='repl', MASTER_PASSWORD='repl-pass', MASTER_USE_GTID=slave_pos,
        MASTER_CONNECT_RETRY=1; START SLAVE;"
    while :; do
        status=$(sql "$name" 'SHOW SLAVE STATUS\G' 2>/dev/null || true)
        if grep -q 'Slave_IO_Running: Yes' <<<"$status" &&
            grep -q 'Slave_SQL_Running: Yes' <<<"$status"; then
            log "$name replicating from master"
            return 0
        fi
        if [ $SECONDS -ge $deadline ]; then
            echo "$status" >&2
            die "$name: replication not running after ${REPL_TIMEOUT}s"
        fi
        sleep 0.1
    done
}

# Rewrite DIR/cluster.env from the current ports and pid files.
write_env() {
    local name v tmp="$DIR/cluster.env.tmp"
    {
        echo "CLUSTER_DIR='$DIR'"
        echo "NREPLICAS=$NREPLICAS"
        for name in $(instances); do
            v=$(var_name "$name")
            echo "${v}_PORT=$(port_of "$name")"
            echo "${v}_PID=$(read_pid "$name")"
            echo "${v}_SOCK='$DIR/$name.sock'"
        done
    } >"$tmp"
    mv "$tmp" "$DIR/cluster.env"
}

# Names of all instances: master replica1 .. replicaN.
instances() {
    local i
    echo master
    for ((i = 1; i <= NREPLICAS; i++)); do echo "replica$i"; done
}

# Port of instance NAME from the loaded cluster.env.
port_of() {
    local v
    v="$(var_name "$1")_PORT"
    echo "${!v:-}"
}

# Load DIR/cluster.env (written by `start`).
load_env() {
    [ -f "$DIR/cluster.env" ] || die "$DIR/cluster.env not found (run: $0 start $DIR)"
    # shellcheck disable=SC1091
    . "$DIR/cluster.env"
}

# SIGTERM the given instances, wait (bounded) for all to exit, SIGKILL stragglers.
stop_instances() {
    local name pid deadline=$((SECONDS + STOP_TIMEOUT)) left
    for name in "$@"; do
        pid=$(read_pid "$name")
        if is_running "$pid" "$DIR/$name"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            kill -CONT "$pid" 2>/dev/null || true # a frozen server must wake up to exit
        fi
    done
    while :; do
        left=()
        for name in "$@"; do
            pid=$(read_pid "$name")
            if is_running "$pid" "$DIR/$name"; then left+=("$name"); fi
        done
        [ ${#left[@]} -eq 0 ] && break
        if [ $SECONDS -ge $deadline ]; then
            for name in "${left[@]}"; do
                pid=$(read_pid "$name")
                echo "cluster: $name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, SIGKILL" >&2
                kill -KILL "$pid" 2>/dev/null || true
            done
            sleep 0.5
            break
        fi
        sleep 0.1
    done
    for name in "$@"; do rm -f "$DIR/$name.pid"; done
}

cmd_start() {
    local name i ports
    [[ "$NREPLICAS" =~ ^[0-9]+$ ]] || die "NREPLICAS must be a number"
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -f "$DIR/cluster.env" ]; then
        # A previous cluster in DIR: refuse while any of it still runs.
        local old_n=$NREPLICAS
        load_env
        for name in $(instances); do
            is_running "$(read_pid "$name")" "$DIR/$name" && die "$name of $DIR is running; stop first"
        done
        NREPLICAS=$old_n
    fi
    [ ${#DIR} -le 90 ] || die "DIR path too long for unix sockets: $DIR"
    bootstrap_template
    # From here on a failure must not leave half a cluster running.
    trap 'stop_partial' EXIT
    read -r -a ports <<<"$("$HERE/free-ports" $((NREPLICAS + 1)))"
    i=0
    for name in $(instances); do
        declare -g "$(var_name "$name")_PORT=${ports[$i]}"
        i=$((i + 1))
        rm -rf "${DIR:?}/$name" "$DIR/$name.err" "$DIR/$name.sock"
        cp -a "$DIR/template" "$DIR/$name"
    done
    for name in $(instances); do launch "$name" "$(port_of "$name")"; done
    write_env
    for name in $(instances); do wait_ready "$name"; done
    for name in $(instances); do
        [ "$name" = master ] || setup_replication "$name"
    done
    write_env
    trap - EXIT
    log "cluster up in $DIR: master :$MASTER_PORT, $NREPLICAS replica(s)"
}

# EXIT trap of a failed `start`: stop whatever it launched.
stop_partial() {
    local names
    mapfile -t names < <(instances)
    echo "cluster: start failed, stopping the instances started so far" >&2
    stop_instances "${names[@]}"
}

cmd_stop() {
    local names
    load_env
    mapfile -t names < <(instances)
    stop_instances "${names[@]}"
    write_env
}

cmd_start_one() {
    local name=$1
    load_env
    server_id "$name" >/dev/null
    [ -d "$DIR/$name" ] || die "no instance $name in $DIR"
    if is_running "$(read_pid "$name")" "$DIR/$name"; then
        log "$name already running"
        return 0
    fi
    launch "$name" "$(port_of "$name")"
    write_env
    wait_ready "$name"
}

cmd_stop_one() {
    local name=$1
    load_env
    server_id "$name" >/dev/null
    [ -d "$DIR/$name" ] || die "no instance $name in $DIR"
    stop_instances "$name"
    write_env
}

main() {
    if [ "${1:-}" = -v ]; then
        VERBOSE=1
        shift
    fi
    [ $# -ge 2 ] || usage
    local cmd=$1
    DIR=$2
    NREPLICAS=2
    USER_OPT=()
    if [ "$(id -u)" = 0 ]; then USER_OPT=(--user=root); fi
    case "$cmd" in
    start)
        [ $# -le 3 ] || usage
        NREPLICAS=${3:-2}
        cmd_start
        ;;
    stop)
        [ $# -eq 2 ] || usage
        DIR=$(cd "$DIR" && pwd)
        cmd_stop
        ;;
    start-one | stop-one)
        [ $# -eq 3 ] || usage
        DIR=$(cd "$DIR" && pwd)
        "cmd_${cmd//-/_}" "$3"
        ;;
    *) usage ;;
    esac
}

main "$@"
