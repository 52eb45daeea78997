#!/usr/bin/env bash
# Side-by-side benchmark of rebound against HAProxy 2.6 and a direct connection (`make bench`).
#
# One run, one machine, one throw-away MariaDB cluster (master + 2 replicas, scripts/cluster.sh).
# Sections, in the order they run (BENCH_ONLY selects some of them; the default runs all):
#   sysbench  oltp_point_select and oltp_read_only at 8 and 64 threads, direct to the master,
#             through HAProxy (mode tcp) and through rebound; QPS, p95 latency and the proxy's CPU
#             seconds per 1,000 queries (utime+stime from /proc/PID/stat).  Median of BENCH_REPEAT
#             runs.
#   observe   the cost of `observe layer7`: oltp_point_select at the same thread counts through one
#             rebound with two listen sections that differ only in `observe layer7`; the runs
#             alternate between the two.  QPS, CPU per 1,000 queries, ratios on/off.
#   threads   the sysbench cases through HAProxy with `nbthread N` and rebound with `threads N`,
#             one process per proxy and N in BENCH_PROXY_THREADS, all side by side; QPS, p95 and
#             CPU per 1,000 queries, ratios tN/t1 and rebound/HAProxy.
#   relay     the proxies' own relaying capacity: tests/bench/pingpong.c (BENCH_RELAY_CONNS
#             connections doing small request/answer round trips) through each proxy and thread
#             count to tests/bench/tinyserver.c, a fake MySQL server that answers every command
#             with a prebuilt OK, so that the proxy is the bottleneck; round trips/s, the proxy's
#             CPU per 1,000 round trips, and how busy the machine was (client, backend, proxy).
#   memory    RSS per idle session: a fresh rebound and a fresh HAProxy, VmRSS before and after
#             opening BENCH_MEM_CONNS idle sessions through each (tests/bench/holdconns.c).
#   failover  new connections (tests/bench/connloop.c, a new one every BENCH_LOOP_INTERVAL ms) through
#             a proxy while the master is killed (kill -9) or frozen (SIGSTOP): time from the fault to
#             the first answer from a backup, and how many attempts failed, in connect/login or later.  rebound with `observe layer4` against HAProxy
#             with the equivalent settings, each in its own process with faster check timing.
#   failback  N idle sessions opened through a proxy while the master is down (so they sit on
#             a backup), master started again; time from the proxy's "Server rw/master is UP" log
#             line to the moment the last of the N sessions is seen closed (tests/bench/holdconns.c).
#   failback-reconnect  the same with clients that log in again as soon as the proxy closes
#             them (holdconns -r, non-blocking Connector/C), through the proxies of the threads
#             section: time from the UP line to the last client reset, to the first new session
#             on the master and to all N back on the master; N in BENCH_RECONNECT_CONNS.
#   failback-graceful  BENCH_GRACEFUL_IDLE idle sessions and BENCH_GRACEFUL_BUSY sessions looping
#             over 100-300 ms transactions (tests/bench/txnloop.c) on a backup, master restarted:
#             through HAProxy (shutdown-backup-sessions), rebound immediate and rebound with
#             `shutdown-backup-sessions graceful BENCH_GRACEFUL_TIME`: transactions cut, and the
#             time from the UP line until every session is back on the master.  Runs only when
#             BENCH_ONLY names it.
#   gtid-guard  two rebound processes, one with `expect gtid-covers backups` on the master; the
#             master stopped and started 5 x BENCH_REPEAT times: ms from the moment it takes
#             logins to each one's UP line (what the guard's extra query costs a return).
# Two TLS sections run only when BENCH_ONLY names them (together they would add about 15 minutes
# to the default run); with either, every MariaDB instance gets a self-signed certificate:
#   tls-sysbench  oltp_point_select and oltp_read_only at BENCH_TLS_THREADS threads, sysbench with
#             TLS (--mysql-ssl=on) straight to the master, through rebound terminating TLS and
#             talking TLS to the master (term-tls), terminating with plain to the master
#             (term-plain), HAProxy passing the client's TLS through (mode tcp) and rebound
#             passing it through (no ssl on bind); QPS, CPU per 1,000 queries, ratios.
#   tls-failback  failback-reconnect with TLS clients (holdconns -r -s): rebound terminating TLS
#             (plain to the servers, so that MariaDB's own TLS cost stays out of its figures)
#             against HAProxy passing the clients' TLS through to MariaDB; then rebound
#             terminating and talking TLS to the servers too (`ssl always`), resuming its TLS
#             session with the master and not (`no-ssl-reuse`), with the master's CPU; N in
#             BENCH_TLS_RECONNECT_CONNS.
# sysbench, observe, threads, relay, failback and failback-reconnect repeat BENCH_REPEAT times
# (failover: BENCH_REPEAT rounds per fault and proxy); the report gives medians and every run.
# Prints a report on stdout (progress on stderr).
#
# Thread counts: rebound gets `threads N` and HAProxy `nbthread N` in the threads, relay and
# failback-reconnect sections.  A rebound binary that rejects the `threads` keyword runs there
# without it (as "rebound-t1", its single event loop) and its other thread counts are skipped;
# the report says so.  The sysbench, observe, memory, failover and failback sections leave both
# proxies at their default thread counts.
#
# Environment:
#   BENCH_ONLY=failover,observe   comma-separated sections to run (default: all of them)
#   BENCH_QUICK=1       smoke test: 3 s runs, 1 repeat, N=100 only (both failback sections),
#                       1,000 idle sessions for the memory figure (other BENCH_* still apply)
#   BENCH_REPEAT=3      runs per sysbench, relay, failback and failover case (medians)
#   BENCH_TIME=10       seconds per sysbench run and per relay run
#   BENCH_THREADS="8 64"          sysbench client threads (sysbench, observe, threads)
#   BENCH_PROXY_THREADS="1 2"     proxy thread counts (threads, relay, failback-reconnect)
#   BENCH_CONNS="100 1000 5000"   failback session counts
#   BENCH_RECONNECT_CONNS="1000 5000 9000"   failback-reconnect session counts
#   BENCH_RELAY_CONNS=64          pingpong connections in the relay section
#   BENCH_LOOP_INTERVAL=20        ms between two new sessions in the failover section
#   BENCH_MEM_CONNS=3000          idle sessions for the memory figure
#   REBOUND_BIN=build/rebound     router binary (rebound columns show n/a if it is missing)
#   BENCH_REBOUND_ARGS=-d         extra arguments for every rebound started (-d: the debug log,
#                       e.g. each kill pass's per-worker timing, in the kept temp dir's *.err)
#   BENCH_KEEP=1        keep the temp dir (configs, logs) instead of deleting it
#   BENCH_TLS_THREADS=64          sysbench client threads of tls-sysbench
#   BENCH_TLS_RECONNECT_CONNS=5000   tls-failback session counts (BENCH_QUICK: 100)
#   BENCH_GRACEFUL_IDLE=500 BENCH_GRACEFUL_BUSY=500   failback-graceful sessions (QUICK: 50 + 50)
#   BENCH_GRACEFUL_TIME=5s        failback-graceful: rebound's graceful TIME
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER="$ROOT/scripts/cluster.sh"
REBOUND_BIN=${REBOUND_BIN:-$ROOT/build/rebound}
REBOUND_ARGS=${BENCH_REBOUND_ARGS:-}
CMDLINE="$0 $*"

# Defaults; BENCH_QUICK=1 shortens them, explicit BENCH_* variables still win.
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_repeat=1 d_time=3 d_conns="100" d_mem=1000 d_rconns="100" d_trconns="100" d_gf=50
else
    d_repeat=3 d_time=10 d_conns="100 1000 5000" d_mem=3000 d_rconns="1000 5000 9000" d_trconns="5000"
    d_gf=500
fi
GF_IDLE=${BENCH_GRACEFUL_IDLE:-$d_gf} GF_BUSY=${BENCH_GRACEFUL_BUSY:-$d_gf}
GF_TIME=${BENCH_GRACEFUL_TIME:-5s}
REPEAT=${BENCH_REPEAT:-$d_repeat} TIME=${BENCH_TIME:-$d_time} CONNS=${BENCH_CONNS:-$d_conns}
MEM_CONNS=${BENCH_MEM_CONNS:-$d_mem}
THREADS=${BENCH_THREADS:-"8 64"}
PROXY_THREADS=${BENCH_PROXY_THREADS:-"1 2"}
RCONNS=${BENCH_RECONNECT_CONNS:-$d_rconns}
RELAY_CONNS=${BENCH_RELAY_CONNS:-64}
TLS_THREADS=${BENCH_TLS_THREADS:-64}
TLS_RCONNS=${BENCH_TLS_RECONNECT_CONNS:-$d_trconns}
ALL_SECTIONS="sysbench,observe,threads,relay,memory,failover,failback,failback-reconnect,gtid-guard"
# Sections that run only when BENCH_ONLY names them.
EXTRA_SECTIONS="tls-sysbench,tls-failback,failback-graceful"
SECTIONS=${BENCH_ONLY:-$ALL_SECTIONS}
TESTS="oltp_point_select oltp_read_only"
PATHS="direct haproxy rebound"
TABLES=4 TABLE_SIZE=10000
FAULTS="kill9 sigstop"   # failover faults
LOOP_TIMEOUT=2           # connloop's connect and read timeouts, seconds
LOOP_AFTER=3             # connloop goes on this many seconds after its first answer from a backup
LOOP_INTERVAL=${BENCH_LOOP_INTERVAL:-20}   # ms between two new sessions of the failover loop
# The C helpers build with the router's own warnings, as errors.
BENCH_WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wno-format-nonliteral -Werror"

TMP='' HAPROXY_PID='' REBOUND_PID='' HOLD_PID='' LOOP_PID='' OBS_ERRORS=''
MASTER_PORT='' REPLICA1_PORT='' REPLICA2_PORT='' MASTER_PID='' # from cluster.env
# Processes of the observe, memory, failover and gtid-guard sections (some set only through
# printf -v).
# shellcheck disable=SC2034
OBS_PID='' MEM_PID='' FO_HA_PID='' FO_RB_PID='' TINY_PID='' GG_OFF_PID='' GG_ON_PID='' GF_PID='' TXN_PID=''
# Proxies with an explicit thread count (threads, failback-reconnect: "haproxy-t2", ...; relay:
# "relay-haproxy-t2", ...), by name: pid (empty once stopped) and listening port.
declare -A VPID VPORT
REBOUND_THREADS=''    # 1 when the binary accepts `threads N`, 0 when not (probed in main)
REBOUND_OK=0          # 1 while rebound is expected to be running and healthy
REBOUND_PROBLEMS=()   # symptoms seen (crash, bad exit status, ...), printed in the report
declare -A RES        # "test/threads/path/metric" -> space-separated values, one per run
declare -A FB         # "proxy/N/metric" -> value, failback results
declare -A FO         # "fault/proxy/metric" -> space-separated values, failover results
declare -A MEM        # "proxy/metric" -> value, idle-session memory
declare -A RC         # "variant/N/metric" -> space-separated values, failback-reconnect results
declare -A RL         # "path/metric" -> space-separated values, relay results
declare -A TLS        # TLS sections: "what" -> value (checks of which side is TLS, counters)
declare -A GF         # "proxy/metric" -> space-separated values, failback-graceful results
GF_LOG_LINES=''

# True when section $1 was selected (BENCH_ONLY).
want() { [[ ",$SECTIONS," == *",$1,"* ]]; }

say() { printf '%s\n' "$*" >&2; }
die() {
    say "bench: error: $*"
    exit 1
}

# ---------------------------------------------------------------------------------------------
# Process and cluster management.  Only PIDs this script started are ever signalled.

# SIGTERM a child, wait (bounded, 10 s) for it, SIGKILL if it lingers; its exit status is left
# in STOP_RC.  Not to be called in a subshell: only this shell can reap its children.
stop_pid() {
    local pid=$1 i
    STOP_RC=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
    set +e
    trap - EXIT INT TERM
    local v
    for v in HOLD_PID LOOP_PID HAPROXY_PID REBOUND_PID OBS_PID MEM_PID FO_HA_PID FO_RB_PID TINY_PID \
        GG_OFF_PID GG_ON_PID GF_PID TXN_PID; do
        [ -n "${!v}" ] && stop_pid "${!v}"
    done
    for v in "${!VPID[@]}"; do
        [ -n "${VPID[$v]}" ] && stop_pid "${VPID[$v]}"
    done
    # `cluster.sh stop` also wakes a master left frozen (SIGSTOP) by an interrupted failover.
    if [ -n "$TMP" ] && [ -f "$TMP/c/cluster.env" ]; then "$CLUSTER" stop "$TMP/c"; fi
    if [ -n "$TMP" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then say "bench: kept $TMP"; else rm -rf "$TMP"; fi
    fi
}

# Pick N free TCP ports on 127.0.0.1 below the ephemeral range: the failback test opens
# thousands of outgoing connections, which must not collide with a proxy's listening port.
free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    lo = int(f.read().split()[0])
cands = list(range(max(1024, lo - 12000), lo))
random.shuffle(cands)
held, ports = [], []
for p in cands:
    if len(ports) == n:
        break
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(p)
if len(ports) < n:
    sys.exit("cannot find free ports")
print(" ".join(map(str, ports)))
EOF
}

# Root SQL on a cluster instance through its unix socket.
root_sql() { mariadb --no-defaults --connect-timeout=5 -uroot --socket="$TMP/c/$1.sock" -N -B -e "$2"; }

# Wait (bounded, ~15 s) until a login as app through PORT works; prints the server's @@port.
wait_login() {
    local port=$1 i out
    for ((i = 0; i < 75; i++)); do
        if out=$(mariadb --no-defaults --connect-timeout=2 -h127.0.0.1 -P"$port" -uapp -papp-pass \
            -N -B -e 'SELECT @@port' 2>/dev/null); then
            echo "$out"
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# utime+stime of PID in clock ticks (fields 14 and 15 of /proc/PID/stat; all threads included).
# The comm field may hold spaces, so cut everything up to ") " first.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo ""; return 0; }
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Busy ticks of the whole machine: user+nice+system+irq+softirq from /proc/stat (this kernel
# charges softirq ticks to the running task as well, so the sum compares with per-task times).
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }

# CPU time of PID in ns, summed over its threads (/proc/PID/task/*/schedstat, field 1): precise
# enough for the few hundred ms a kill storm takes, where clock ticks (10 ms) are too coarse.
cpu_ns() {
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# True while rebound is running; records the symptom the first time it is found dead.
rebound_alive() {
    [ "$REBOUND_OK" = 1 ] || return 1
    if kill -0 "$REBOUND_PID" 2>/dev/null; then return 0; fi
    local rc=0
    wait "$REBOUND_PID" 2>/dev/null || rc=$?
    REBOUND_PROBLEMS+=("rebound exited unexpectedly (status $rc) during: $1; last stderr: $(tail -n 3 "$TMP/rebound.err" | tr '\n' '|')")
    say "bench: ${REBOUND_PROBLEMS[-1]}"
    REBOUND_OK=0 REBOUND_PID=
    return 1
}

# Record a symptom for the report (once) and show it.
problem() {
    local p
    for p in "${REBOUND_PROBLEMS[@]}"; do [ "$p" != "$1" ] || return 0; done
    REBOUND_PROBLEMS+=("$1")
    say "bench: $1"
}

# True while a section's process (variable VAR, NAME for messages, its stderr in $TMP/NAME.err)
# runs; the first time it is found dead, records the symptom, empties VAR and returns 1.
extra_alive() {
    local var=$1 name=$2 rc=0
    [ -n "${!var}" ] || return 1
    if kill -0 "${!var}" 2>/dev/null; then return 0; fi
    wait "${!var}" 2>/dev/null || rc=$?
    problem "$name exited unexpectedly (status $rc) during: $3; last stderr: $(tail -n 3 "$TMP/$name.err" | tr '\n' '|')"
    printf -v "$var" ''
    return 1
}

# ---------------------------------------------------------------------------------------------
# failback-graceful: what a failback does to sessions in the middle of their work.

gf_add() { GF["$1"]="${GF["$1"]:-} $2"; }
gf_note() {
    case "; ${GF["$1/note"]:-}; " in *"; $2; "*) return 0 ;; esac
    GF["$1/note"]="${GF["$1/note"]:+${GF["$1/note"]}; }$2"
}

# One round through proxy NAME (haproxy, rebound or rebound-graceful) listening on PORT, whose
# log is LOG: the master stopped, txnloop's sessions opened on a backup and busy for a second,
# the master started; the transactions cut and the ms from the UP line until all are back.
gf_round() {
    local name=$1 port=$2 log=$3 off i out up_line up all
    say "bench: failback-graceful $name: stopping master"
    off=$(line_count "$log")
    "$CLUSTER" stop-one "$TMP/c" master
    if ! wait_line "$log" "$off" "Server rw/master is DOWN" 30 >/dev/null; then
        gf_note "$name" "master never marked DOWN"
        start_master
        wait_all_up
        return 0
    fi
    "$TMP/txnloop" -P "$port" -m "$MASTER_PORT" -i "$GF_IDLE" -b "$GF_BUSY" -w 60 \
        >"$TMP/txn.out" 2>"$TMP/txn.err" &
    TXN_PID=$!
    for ((i = 0; i < 2000; i++)); do
        grep -qx ready "$TMP/txn.out" 2>/dev/null && break
        kill -0 "$TXN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -qx ready "$TMP/txn.out" 2>/dev/null; then
        gf_note "$name" "sessions not opened on a backup: $(tail -n 2 "$TMP/txn.err" | tr '\n' ' ')"
        stop_pid "$TXN_PID"
        TXN_PID=
        start_master
        wait_all_up
        return 0
    fi
    sleep 1 # transactions under way
    say "bench: failback-graceful $name: starting master"
    start_master
    # txnloop bounds its own wait (-w 60); this loop is the watchdog on top of it.
    for ((i = 0; i < 900; i++)); do
        kill -0 "$TXN_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$TXN_PID"
    TXN_PID=
    out=$(cat "$TMP/txn.out")
    for i in committed cut begin_errors failures longest_txn_ms; do
        gf_add "$name/$i" "$(sed -n "s/^$i=//p" <<<"$out")"
    done
    if up_line=$(wait_line "$log" "$off" "Server rw/master is UP" 5); then
        up=$(line_epoch "$up_line")
        all=$(sed -n 's/^all_master=//p' <<<"$out")
        gf_add "$name/all" "$(awk -v a="$up" -v b="$all" 'BEGIN { if (b + 0 > 0) printf "%.0f", b - a * 1000 }')"
        [ "${all:-0}" != 0 ] || gf_note "$name" "not every session back on the master within 60 s"
    else
        gf_note "$name" "no UP line"
    fi
    say "bench:   $name: $(tr '\n' ' ' <<<"$out")"
    wait_all_up
}

run_graceful_suite() {
    local rep name port log i conf="$TMP/rebound-graceful.conf" glog="$TMP/graceful-health.log"
    write_rebound_cfg "$conf" "${VPORT[rebound-graceful]}" "$glog" "" "" "" "" "graceful $GF_TIME"
    spawn_rebound rebound-graceful GF_PID "${VPORT[rebound-graceful]}" || return 0
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for name in rebound-graceful haproxy rebound; do
            # wait_all_up knows the main proxies only: rebound-graceful must have the master back too.
            for ((i = 0; i < 400; i++)); do
                [ "$(master_state "$glog")" = UP ] && break
                sleep 0.1
            done
            case $name in
            haproxy) port=$HA_PORT log=$TMP/haproxy.log ;;
            rebound) port=$RB_PORT log=$TMP/health.log ;;
            *) port=${VPORT[rebound-graceful]} log=$glog ;;
            esac
            [ "$name" != rebound ] || [ -n "$REBOUND_PID" ] || continue
            gf_round "$name" "$port" "$log"
        done
    done
    # rebound's own account of its graceful passes, for the report.
    GF_LOG_LINES=$(grep -F 'gracefully within' "$glog" | sed 's/^[^ ]* /    /' || true)
    stop_extra GF_PID rebound-graceful
}

report_graceful() {
    local name all
    echo
    echo "failback-graceful: $GF_IDLE idle + $GF_BUSY busy sessions (100-300 ms transactions in a loop) on a"
    echo "backup, master restarted. 'cut' = transactions that had begun and failed before their COMMIT's"
    echo "answer (summed over runs); 'at BEGIN' = sessions closed between two transactions; 'all back' = ms"
    echo "from the proxy's UP line until the last session is back on the master (median, then every run);"
    echo "'longest' = the longest transaction (ms, median). rebound-graceful has shutdown-backup-sessions"
    echo "graceful $GF_TIME; rebound and HAProxy close every backup session at once."
    printf '%-17s | %9s | %5s | %9s | %-28s | %7s | %s\n' proxy committed cut "at BEGIN" "all back ms: median (runs)" longest "failed logins"
    for name in rebound-graceful rebound haproxy; do
        all=${GF["$name/all"]:-}
        printf '%-17s | %9s | %5s | %9s | %-28s | %7s | %s\n' "$name" \
            "$(sum "${GF["$name/committed"]:-}")" "$(sum "${GF["$name/cut"]:-}")" \
            "$(sum "${GF["$name/begin_errors"]:-}")" "$(median "$all") (${all# })" \
            "$(median "${GF["$name/longest_txn_ms"]:-}")" "$(sum "${GF["$name/failures"]:-}")"
    done
    for name in rebound-graceful rebound haproxy; do
        [ -z "${GF["$name/note"]:-}" ] || echo "  $name: ${GF["$name/note"]}"
    done
    [ -z "$GF_LOG_LINES" ] || printf '  rebound-graceful health log:\n%s\n' "$GF_LOG_LINES"
}

# ---------------------------------------------------------------------------------------------
# Setup.

# Build tests/bench/NAME.c into $TMP/NAME with the project's warnings as errors; `mariadb`: link
# Connector/C.
build_tool() {
    local libs=''
    [ "${2:-}" != mariadb ] || libs=$(pkg-config --cflags --libs libmariadb)
    # shellcheck disable=SC2086 # the warning flags and pkg-config output are meant to be split
    cc -O2 -std=gnu11 -pthread $BENCH_WARN -o "$TMP/$1" "$ROOT/tests/bench/$1.c" $libs || die "cannot build $1"
}

# Main configs (sysbench, failback, memory; threads and failback-reconnect with a thread count):
# HAProxy FILE PORT [NBTHREAD], rebound FILE PORT HEALTH_LOG [THREADS].  Without a thread count
# each proxy keeps its default.
write_haproxy_cfg() {
    # Same servers, same check timing as rebound.  mysql-check cannot send a password, hence
    # rebound_nopw.  Logs go to stdout (a file) in RFC 5424 format for the microsecond timestamp
    # of "Server rw/master is UP"; the level cap `notice` drops the per-connection info lines, so
    # logging costs HAProxy nothing measurable during sysbench or a kill storm.
    cat >"$1" <<EOF
global
    maxconn 9000
    ${3:+nbthread $3}
    log stdout format rfc5424 local0 notice
defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 8h
    timeout server 8h
    timeout check 1s
    retries 2
    option redispatch
    default-server inter 2s fastinter 500ms downinter 5s rise 2 fall 3
listen rw
    bind 127.0.0.1:$2
    option mysql-check user rebound_nopw post-41
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}

# The TLS sections add: [BIND_OPTIONS [SERVER_OPTIONS [ADMIN_PORT]]] (ADMIN_PORT: an admin port
# with the account bench / $ADMIN_PASS, to read the TLS counters and the sessions table).
write_rebound_cfg() {
    cat >"$1" <<EOF
global
    maxconn 9000
    ${4:+threads $4}
    health-log file $3
    ${7:+admin 127.0.0.1:$7 user bench password $ADMIN_PASS}
defaults
    check mysql user rebound_check password "check-pass"
    inter 2s  fastinter 500ms  downinter 5s  rise 2  fall 3
    timeout connect 2s  timeout client 8h  timeout server 8h  timeout check 1s
    retries 2
listen rw
    bind 127.0.0.1:$2 ${5:-}
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions ${8:-} on-marked-down shutdown-sessions ${6:-}
    server replica1 127.0.0.1:$REPLICA1_PORT check backup ${6:-}
    server replica2 127.0.0.1:$REPLICA2_PORT check backup ${6:-}
EOF
}
ADMIN_PASS=bench-admin-7q2w

# GTID-guard section: rebound FILE PORT HEALTH_LOG [MASTER_OPTIONS], checks fast enough that the
# master's return takes a few hundred ms, so that one check round more would show.
write_rebound_gg_cfg() {
    cat >"$1" <<EOF
global
    health-log file $3
defaults
    check mysql user rebound_check password "check-pass"
    inter 2s  fastinter 100ms  downinter 100ms  rise 2  fall 2
    timeout connect 2s  timeout client 8h  timeout server 8h  timeout check 1s
listen rw
    bind 127.0.0.1:$2
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions ${4:-}
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}

# Observe section: one rebound, two listen sections that differ only in `observe layer7`
# (PORT_OFF, PORT_L7), the same servers and checks as the main config, and a stats port to read
# how many errors observation counted.  FILE PORT_OFF PORT_L7 LOG STATS_PORT.
write_observe_cfg() {
    cat >"$1" <<EOF
global
    maxconn 9000
    health-log file $4
    stats 127.0.0.1:$5
defaults
    check mysql user rebound_check password "check-pass"
    inter 2s  fastinter 500ms  downinter 5s  rise 2  fall 3
    timeout connect 2s  timeout client 8h  timeout server 8h  timeout check 1s
    retries 2
listen off
    bind 127.0.0.1:$2
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
listen l7
    bind 127.0.0.1:$3
    $OBSERVE_L7
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}
# `on-error fastinter` rather than `mark-down`: what is measured is the cost of following the
# stream, and an action that changes routing would make the runs incomparable should observation
# count errors against the healthy master (the report shows how many it counted; it should be 0).
OBSERVE_L7="observe layer7  error-limit 10  on-error fastinter"

# Failover section: fast checks plus passive observation, the same in both proxies as far as
# HAProxy has an equivalent (it has no greeting timeout).  Listen section `fo`.  FILE PORT [LOG].
FO_CHECKS="inter 500ms fastinter 200ms downinter 500ms rise 2 fall 2"
FO_OBSERVE="observe layer4 error-limit 3 on-error mark-down"
FO_MASTER_OPTS="on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions"
write_haproxy_fo_cfg() {
    cat >"$1" <<EOF
global
    maxconn 2000
    log stdout format rfc5424 local0 notice
defaults
    mode tcp
    log global
    timeout connect 300ms
    timeout client 1m
    timeout server 1m
    timeout check 1s
    retries 2
    option redispatch
    default-server $FO_CHECKS $FO_OBSERVE
listen fo
    bind 127.0.0.1:$2
    option mysql-check user rebound_nopw post-41
    server master   127.0.0.1:$MASTER_PORT check $FO_MASTER_OPTS
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}

write_rebound_fo_cfg() {
    cat >"$1" <<EOF
global
    maxconn 2000
    health-log file $3
defaults
    check mysql user rebound_check password "check-pass"
    $FO_CHECKS  timeout check 1s
    timeout connect 300ms  timeout greeting 300ms  timeout client 1m  timeout server 1m
    $FO_OBSERVE
    retries 2
listen fo
    bind 127.0.0.1:$2
    server master   127.0.0.1:$MASTER_PORT check $FO_MASTER_OPTS
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}

# Relay section: one listen `relay` in front of tinyserver, no checks (a server without `check`
# is always UP in both proxies).  HAProxy FILE PORT NBTHREAD, rebound FILE PORT LOG [THREADS].
write_haproxy_relay_cfg() {
    cat >"$1" <<EOF
global
    maxconn 9000
    nbthread $3
    log stdout format rfc5424 local0 notice
defaults
    mode tcp
    log global
    timeout connect 2s
    timeout client 1m
    timeout server 1m
listen relay
    bind 127.0.0.1:$2
    server tiny 127.0.0.1:$TINY_PORT
EOF
}

write_rebound_relay_cfg() {
    cat >"$1" <<EOF
global
    maxconn 9000
    ${4:+threads $4}
    health-log file $3
defaults
    timeout connect 2s  timeout client 1m  timeout server 1m
listen relay
    bind 127.0.0.1:$2
    server tiny 127.0.0.1:$TINY_PORT
EOF
}

# Start HAProxy NAME on $TMP/NAME.cfg (already written), log to $TMP/NAME.log, pid into variable
# VAR; wait until a login through PORT lands on the server listening on port EXPECT (default: the
# master; `-`: any login that works, for tinyserver, which answers no query with a row).  HAProxy
# is the reference: it must work.
spawn_haproxy() {
    local name=$1 var=$2 port=$3 expect=${4:-$MASTER_PORT} p
    haproxy -c -q -f "$TMP/$name.cfg" || die "haproxy rejected $TMP/$name.cfg"
    haproxy -db -f "$TMP/$name.cfg" >"$TMP/$name.log" 2>"$TMP/$name.err" </dev/null &
    printf -v "$var" '%s' $!
    p=$(wait_login "$port") || die "no login through $name: $(tail -n 5 "$TMP/$name.err")"
    [ "$expect" = - ] || [ "$p" = "$expect" ] || die "$name routed to port $p, not the master"
    say "bench: $name pid ${!var} on :$port"
}

# Start rebound NAME on $TMP/NAME.conf (already written), stderr to $TMP/NAME.err, pid into
# variable VAR; wait until a login through PORT works (EXPECT as for spawn_haproxy).  On failure
# the symptom goes into REBOUND_PROBLEMS, VAR stays empty and the status is 1: the rebound
# figures are then n/a.
spawn_rebound() {
    local name=$1 var=$2 port=$3 expect=${4:-$MASTER_PORT} p rc=0
    if [ ! -x "$REBOUND_BIN" ]; then
        problem "$REBOUND_BIN not found: rebound columns are n/a (run make first)"
        return 1
    fi
    if ! "$REBOUND_BIN" -c -f "$TMP/$name.conf" >"$TMP/$name-check.out" 2>&1; then
        problem "$name: rebound -c rejected the config: $(head -n 3 "$TMP/$name-check.out" | tr '\n' '|')"
        return 1
    fi
    # shellcheck disable=SC2086 # extra arguments, split on purpose
    "$REBOUND_BIN" $REBOUND_ARGS -f "$TMP/$name.conf" 2>"$TMP/$name.err" </dev/null &
    printf -v "$var" '%s' $!
    if ! p=$(wait_login "$port"); then
        if kill -0 "${!var}" 2>/dev/null; then
            stop_pid "${!var}"
        else
            wait "${!var}" 2>/dev/null || rc=$?
            problem "$name exited during start-up (status $rc)"
        fi
        problem "$name: no login within 15 s: $(tail -n 3 "$TMP/$name.err" | tr '\n' '|')"
        printf -v "$var" ''
        return 1
    fi
    [ "$expect" = - ] || [ "$p" = "$expect" ] || problem "$name routed a new session to port $p, not the master"
    say "bench: $name pid ${!var} on :$port"
}

# SIGTERM a section's process kept in variable VAR (NAME for messages), empty VAR; a rebound must
# exit with status 0.
stop_extra() {
    local var=$1 name=$2
    [ -n "${!var}" ] || return 0
    stop_pid "${!var}"
    printf -v "$var" ''
    case "$name" in
    rebound* | relay-rebound*) [ "$STOP_RC" = 0 ] || problem "$name exited with status $STOP_RC on SIGTERM (expected 0)" ;;
    esac
}

start_haproxy() {
    write_haproxy_cfg "$TMP/haproxy.cfg" "$HA_PORT"
    spawn_haproxy haproxy HAPROXY_PID "$HA_PORT"
}

start_rebound() {
    write_rebound_cfg "$TMP/rebound.conf" "$RB_PORT" "$TMP/health.log"
    spawn_rebound rebound REBOUND_PID "$RB_PORT" && REBOUND_OK=1
    return 0
}

# ---------------------------------------------------------------------------------------------
# Proxies with an explicit thread count (threads, relay, failback-reconnect).  A variant is
# PROXY-tN: HAProxy with `nbthread N` or rebound with `threads N`, one process each.

# Variant names for the thread counts of BENCH_PROXY_THREADS, HAProxy first.
variants() {
    local p t
    for p in haproxy rebound; do for t in $PROXY_THREADS; do printf '%s ' "$p-t$t"; done; done
}

# Does the binary know `threads N`?  Sets REBOUND_THREADS to 1 or 0 (a config that passes
# `rebound -c` without the line but not with it).
probe_rebound_threads() {
    REBOUND_THREADS=0
    [ -x "$REBOUND_BIN" ] || return 0
    probe_conf 1
    if "$REBOUND_BIN" -c -f "$TMP/probe.conf" >"$TMP/probe.out" 2>&1; then
        REBOUND_THREADS=1
        return 0
    fi
    probe_conf
    "$REBOUND_BIN" -c -f "$TMP/probe.conf" >/dev/null 2>&1 || return 0
    problem "$REBOUND_BIN rejects the threads keyword ($(head -n 1 "$TMP/probe.out")): rebound-t1 runs without it (the binary's single event loop), other rebound thread counts are skipped"
}

# A minimal config for the probe, with `threads $1` when given.
probe_conf() {
    cat >"$TMP/probe.conf" <<EOF
global
    ${1:+threads $1}
listen probe
    bind 127.0.0.1:3306
    server s 127.0.0.1:3307
EOF
}


# The `threads` value for rebound variant tN: N, nothing (no such keyword: t1 runs without it),
# or status 1 (skip this variant).
rebound_threads_value() {
    if [ "$REBOUND_THREADS" = 1 ]; then
        echo "$1"
    elif [ "$1" != 1 ]; then
        return 1
    fi
}

# The log with a variant's "Server ... is UP" lines.
variant_log() {
    case "$1" in
    *haproxy-t*) echo "$TMP/$1.log" ;;
    *) echo "$TMP/$1-health.log" ;;
    esac
}

# True while variant NAME runs; a rebound found dead is recorded (WHAT: during what).
variant_alive() {
    [ -n "${VPID[$1]:-}" ] || return 1
    case "$1" in
    *rebound-t*) extra_alive "VPID[$1]" "$1" "$2" ;;
    *) kill -0 "${VPID[$1]}" 2>/dev/null ;;
    esac
}

# Start every variant in front of the cluster (listen rw, the main configs plus a thread count).
start_variants() {
    local v t
    for v in $(variants); do
        t=${v##*-t}
        case "$v" in
        haproxy-*)
            write_haproxy_cfg "$TMP/$v.cfg" "${VPORT[$v]}" "$t"
            spawn_haproxy "$v" "VPID[$v]" "${VPORT[$v]}"
            ;;
        rebound-*)
            t=$(rebound_threads_value "$t") || continue
            write_rebound_cfg "$TMP/$v.conf" "${VPORT[$v]}" "$(variant_log "$v")" "$t"
            spawn_rebound "$v" "VPID[$v]" "${VPORT[$v]}" || true
            ;;
        esac
    done
}

# Stop the variants whose names start with PREFIX (empty: the cluster's); a rebound must exit 0.
stop_variants() {
    local v
    for v in $(variants); do
        [ -z "${VPID[$1$v]:-}" ] || stop_extra "VPID[$1$v]" "$1$v"
    done
}

# ---------------------------------------------------------------------------------------------
# sysbench.

sb_args() {
    echo --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=app --mysql-password=app-pass \
        --mysql-db=appdb --tables=$TABLES --table-size=$TABLE_SIZE
}

# One sysbench run; prints "QPS P95_MS QUERIES SYSBENCH_CPU_S".  The proxy's CPU is read by the
# caller; sysbench's own CPU comes from `times` (children of the command substitution's shell).
# A fourth argument `tls`: sysbench logs in with TLS.  sysbench 1.0 has only --mysql-ssl=on|off,
# and with `on` it reads client-key.pem, client-cert.pem and cacert.pem from its working
# directory, hence the cd to $TMP/tls (tls_setup).
run_sysbench() {
    local test=$1 threads=$2 port=$3 out dir=. ssl=off
    [ "${4:-}" != tls ] || dir=$TMP/tls ssl=on
    # shellcheck disable=SC2046
    if ! out=$(cd "$dir" && timeout $((TIME + 60)) sysbench "$test" $(sb_args) --mysql-port="$port" \
        --mysql-ssl="$ssl" --threads="$threads" --time="$TIME" --percentile=95 --report-interval=0 run 2>&1 &&
        times); then
        say "bench: sysbench $test $threads threads on :$port failed: $(grep -m2 -E 'FATAL|ERROR|error' <<<"$out" | tr '\n' ' ')"
        return 1
    fi
    # "queries:   121421 (40440.25 per sec.)" and "95th percentile:   0.35"
    # `times` ends with "0m0.230s 0m1.212s" for the children: sysbench's user and sys time.
    awk '/^ *queries:/ { q = $2; qps = $3; sub(/^\(/, "", qps) }
         /95th percentile:/ { p = $3 }
         /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { split($1 "m" $2, t, /[ms]+/); c = t[1] * 60 + t[2] + t[3] * 60 + t[4] }
         END { if (q == "" || p == "") exit 1; print qps, p, q, c + 0 }' <<<"$out"
}

# Append one measurement to RES.
add() { RES["$1"]="${RES["$1"]:-} $2"; }

# One cell: TEST THREADS PATH.  Besides QPS, p95 and proxy CPU it records "other": the share of
# the machine's CPU used by processes outside this run (busy ticks minus the proxy, the master and
# sysbench), a rough indicator of noise from whatever else runs on the box.  PATH obs-off and
# obs-l7 are the two listen sections of the observe section's rebound; haproxy-tN and rebound-tN
# are the variants of the threads section.  Leaves the run's QPS and CPU in LAST_QPS and LAST_CPU
# (empty when the run failed).
bench_cell() {
    local test=$1 threads=$2 path=$3 port pid='' c0='' c1='' m0 m1 b0 b1 t0 r qps p95 q sbcpu cpu=''
    local ssl='' s0='' h0=''
    LAST_QPS='' LAST_CPU=''
    case "$path" in
    direct) port=$MASTER_PORT ;;
    tls-*)
        tls_alive "$path" "before sysbench $test $threads" || return 0
        ssl=tls port=$MASTER_PORT
        [ "$path" = tls-direct ] || port=${VPORT[$path]} pid=${VPID[$path]}
        s0=$(master_ssl_accepts) h0=$(tls_handshakes "$path")
        ;;
    haproxy) port=$HA_PORT pid=$HAPROXY_PID ;;
    rebound)
        rebound_alive "before sysbench $test $threads" || return 0
        port=$RB_PORT pid=$REBOUND_PID
        ;;
    obs-off | obs-l7)
        extra_alive OBS_PID rebound-observe "before sysbench $test $threads" || return 0
        port=$OBS_OFF_PORT pid=$OBS_PID
        [ "$path" = obs-off ] || port=$OBS_L7_PORT
        ;;
    *-t*)
        variant_alive "$path" "before sysbench $test $threads" || return 0
        port=${VPORT[$path]} pid=${VPID[$path]}
        ;;
    esac
    [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
    m0=$(cpu_ticks "$MASTER_PID") b0=$(machine_busy) t0=$(date +%s.%N)
    if ! r=$(run_sysbench "$test" "$threads" "$port" "$ssl"); then
        add "$test/$threads/$path/fail" 1
        case "$path" in
        rebound) rebound_alive "sysbench $test $threads threads" || true ;;
        tls-*) tls_alive "$path" "sysbench $test $threads threads" || true ;;
        obs-*) extra_alive OBS_PID rebound-observe "sysbench $test $threads threads ($path)" || true ;;
        *-t*) variant_alive "$path" "sysbench $test $threads threads" || true ;;
        esac
        return 0
    fi
    [ -n "$pid" ] && c1=$(cpu_ticks "$pid")
    m1=$(cpu_ticks "$MASTER_PID") b1=$(machine_busy)
    read -r qps p95 q sbcpu <<<"$r"
    add "$test/$threads/$path/qps" "$qps"
    add "$test/$threads/$path/p95" "$p95"
    if [ -n "$c0" ] && [ -n "$c1" ]; then
        cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" -v q="$q" 'BEGIN { printf "%.5f", d / hz / q * 1000 }')
        add "$test/$threads/$path/cpu" "$cpu"
    fi
    add "$test/$threads/$path/other" "$(awk -v b=$((b1 - b0)) -v m=$((m1 - m0)) -v p=$((${c1:-0} - ${c0:-0})) \
        -v s="$sbcpu" -v hz="$HZ" -v t0="$t0" -v t1="$(date +%s.%N)" -v n="$(nproc)" \
        'BEGIN { o = (b - m - p) / hz - s; if (o < 0) o = 0; printf "%.0f%%", 100 * o / ((t1 - t0) * n) }')"
    if [ -n "$ssl" ]; then
        # TLS handshakes during the run: accepted by the master (less the one of the root session
        # that reads the counter: the mariadb client uses TLS on the unix socket too), and done by
        # rebound with clients.
        add "$test/$threads/$path/mtls" "$(awk -v a="$s0" -v b="$(master_ssl_accepts)" 'BEGIN { print b - a - 1 }')"
        [ -z "$h0" ] || add "$test/$threads/$path/rtls" "$(awk -v a="$h0" -v b="$(tls_handshakes "$path")" 'BEGIN { print b - a }')"
    fi
    say "bench:   $test $threads thr $path: $qps qps, p95 $p95 ms${cpu:+, cpu $cpu s/1k q}"
    LAST_QPS=$qps LAST_CPU=$cpu
    case "$path" in
    rebound) rebound_alive "sysbench $test $threads threads" || true ;;
    tls-*) tls_alive "$path" "sysbench $test $threads threads" || true ;;
    obs-*) extra_alive OBS_PID rebound-observe "sysbench $test $threads threads ($path)" || true ;;
    *-t*) variant_alive "$path" "sysbench $test $threads threads" || true ;;
    esac
    return 0
}

sysbench_prepare() {
    say "bench: sysbench prepare ($TABLES tables x $TABLE_SIZE rows) on the master"
    # shellcheck disable=SC2046
    timeout 300 sysbench oltp_read_only $(sb_args) --mysql-port="$MASTER_PORT" --threads=4 prepare \
        >"$TMP/prepare.log" 2>&1 || die "sysbench prepare failed: $(tail -n 3 "$TMP/prepare.log")"
    # Warm the buffer pool so the first measured run is not penalised.
    # shellcheck disable=SC2046
    timeout 60 sysbench oltp_read_only $(sb_args) --mysql-port="$MASTER_PORT" --threads=4 --time=2 \
        run >/dev/null 2>&1 || true
}

# Run every sysbench case REPEAT times over the paths PATHS_LIST (LABEL for the progress lines).
run_sysbench_suite() {
    local paths=${1:-$PATHS} label=${2:-} rep test threads i n path order
    n=$(wc -w <<<"$paths")
    [ "$n" -gt 0 ] || return 0
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for test in $TESTS; do
            for threads in $THREADS; do
                # Rotate the path order each repeat so slow drift on a noisy machine does not
                # always favour the same path.
                read -r -a order <<<"$paths"
                for ((i = 0; i < (rep - 1) % n; i++)); do order=("${order[@]:1}" "${order[0]}"); done
                say "bench: ${label}run $rep/$REPEAT $test $threads threads (${order[*]})"
                for path in "${order[@]}"; do bench_cell "$test" "$threads" "$path"; done
            done
        done
    done
}

# ---------------------------------------------------------------------------------------------
# Cost of `observe layer7`: the same rebound process, listen `off` and listen `l7`, alternating.

run_observe_suite() {
    local rep threads v order q c
    say "bench: observe: rebound with listen off (:$OBS_OFF_PORT) and l7 (:$OBS_L7_PORT, $OBSERVE_L7)"
    write_observe_cfg "$TMP/rebound-observe.conf" "$OBS_OFF_PORT" "$OBS_L7_PORT" "$TMP/health-observe.log" \
        "$OBS_STATS_PORT"
    spawn_rebound rebound-observe OBS_PID "$OBS_OFF_PORT" || return 0
    wait_login "$OBS_L7_PORT" >/dev/null || problem "rebound-observe: no login through listen l7"
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for threads in $THREADS; do
            # Alternate which configuration goes first, run by run.
            if ((rep % 2)); then order="off l7"; else order="l7 off"; fi
            say "bench: observe run $rep/$REPEAT oltp_point_select $threads threads ($order)"
            q='' c=''
            for v in $order; do
                bench_cell oltp_point_select "$threads" "obs-$v"
                q="$q $v=$LAST_QPS" c="$c $v=$LAST_CPU"
            done
            # The ratio on/off of the two adjacent runs: less exposed to slow drift than the
            # ratio of the medians.
            add "obs/$threads/pair_qps" "$(pair_ratio "$q")"
            add "obs/$threads/pair_cpu" "$(pair_ratio "$c")"
        done
    done
    # Errors observation counted on the l7 servers: every one is a false alarm, nothing failed.
    OBS_ERRORS=$(stats_csv "$OBS_STATS_PORT" |
        awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                 $col["listener"] == "l7" { printf "%s%s=%s", sep, $col["server"], $col["observed_errors"]; sep = " " }')
    say "bench: observe: errors counted by observe layer7 (healthy servers): ${OBS_ERRORS:-?}"
    stop_extra OBS_PID rebound-observe
}

# GET /stats.csv from rebound's stats port PORT (bounded, 5 s).
stats_csv() {
    python3 - "$1" <<'EOF' 2>/dev/null || true
import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/stats.csv" % sys.argv[1], timeout=5).read().decode(), end="")
EOF
}

# "off=A l7=B" -> B/A, or nothing when a run is missing.
pair_ratio() {
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
         END { if (v["off"] + 0 > 0 && v["l7"] != "") printf "%.3f", v["l7"] / v["off"] }' <<<"$1"
}

# ---------------------------------------------------------------------------------------------
# Relay: the proxies' own capacity.  pingpong -> proxy -> tinyserver, a backend that answers
# every command with a prebuilt OK, so that the proxy and the machine's CPUs set the rate.

# The variants running under names PREFIXvariant, without the prefix.
running_variants() {
    local v
    for v in $(variants); do [ -z "${VPID[$1$v]:-}" ] || printf '%s ' "$v"; done
}

rl_add() { RL["$1"]="${RL["$1"]:-} $2"; }

# One key=value from pingpong's or holdconns' output OUT.
kv() { sed -n "s/^$1=//p" <<<"$2"; }

# One relay run through PATH (direct, or the variant relay-PATH): round trips/s, latency, the
# proxy's CPU per 1,000 round trips, and the cores used by the proxy, the backend and the client
# and the machine's busy share over the run.
relay_cell() {
    local path=$1 port pid='' c0=0 c1=0 k0 k1 b0 b1 t0 t1 out='' rt f
    if [ "$path" = direct ]; then
        port=$TINY_PORT
    else
        variant_alive "relay-$path" "before a relay run" || return 0
        port=${VPORT[relay-$path]} pid=${VPID[relay-$path]}
    fi
    [ -z "$pid" ] || c0=$(cpu_ns "$pid")
    k0=$(cpu_ns "$TINY_PID") b0=$(machine_busy) t0=${EPOCHREALTIME/,/.}
    out=$(timeout $((TIME + 30)) "$TMP/pingpong" -P "$port" -c "$RELAY_CONNS" -t "$TIME" \
        2>"$TMP/pingpong.err") || true
    t1=${EPOCHREALTIME/,/.} b1=$(machine_busy) k1=$(cpu_ns "$TINY_PID")
    [ -z "$pid" ] || c1=$(cpu_ns "$pid")
    rt=$(kv round_trips "$out")
    if [ -z "$rt" ] || [ "$rt" = 0 ]; then
        rl_add "$path/fail" 1
        say "bench: pingpong through $path failed: $(tr '\n' ' ' <"$TMP/pingpong.err")"
        [ "$path" = direct ] || variant_alive "relay-$path" "a relay run" || true
        return 0
    fi
    rl_add "$path/rate" "$(kv rate "$out")"
    rl_add "$path/p50" "$(kv p50_us "$out")"
    rl_add "$path/p99" "$(kv p99_us "$out")"
    rl_add "$path/errors" "$(kv errors "$out")"
    # CPU ms per 1k round trips, then cores (CPU s per s) of the proxy, the backend, the client and
    # everything else on the machine (its busy ticks minus those three: noise), and busy %.
    read -r -a f <<<"$(awk -v p=$((c1 - c0)) -v k=$((k1 - k0)) -v b=$((b1 - b0)) -v rt="$rt" \
        -v c="$(kv cpu_s "$out")" -v hz="$HZ" -v n="$(nproc)" -v a="$t0" -v z="$t1" \
        'BEGIN { w = z - a; o = b / hz / w - (p + k) / 1e9 / w - c / w; if (o < 0) o = 0
                 printf "%.2f %.2f %.2f %.2f %.2f %.0f", p / 1e6 / rt * 1000, p / 1e9 / w, k / 1e9 / w,
                        c / w, o, 100 * b / hz / (w * n) }')"
    if [ "$path" != direct ]; then
        rl_add "$path/cpu" "${f[0]}"
        rl_add "$path/proxy" "${f[1]}"
    fi
    rl_add "$path/backend" "${f[2]}"
    rl_add "$path/client" "${f[3]}"
    rl_add "$path/other" "${f[4]}"
    rl_add "$path/busy" "${f[5]}"
    say "bench:   relay $path: $(kv rate "$out") round trips/s, p50 $(kv p50_us "$out") us, cores: proxy ${f[1]}${pid:+ (${f[0]} ms CPU / 1k)}, backend ${f[2]}, client ${f[3]}, other ${f[4]}; machine ${f[5]}% busy"
    [ "$path" = direct ] || variant_alive "relay-$path" "a relay run" || true
}

run_relay_suite() {
    local rep i n v t paths order
    # tinyserver bounds its own life: every run of every path, with room to spare.
    n=$((1 + $(wc -w <<<"$(variants)")))
    "$TMP/tinyserver" -P "$TINY_PORT" -t $((REPEAT * n * (TIME + 10) + 300)) \
        >"$TMP/tinyserver.out" 2>"$TMP/tinyserver.err" </dev/null &
    TINY_PID=$!
    wait_login "$TINY_PORT" >/dev/null || die "tinyserver: no login: $(tail -n 3 "$TMP/tinyserver.err")"
    for v in $(variants); do
        t=${v##*-t}
        case "$v" in
        haproxy-*)
            write_haproxy_relay_cfg "$TMP/relay-$v.cfg" "${VPORT[relay-$v]}" "$t"
            spawn_haproxy "relay-$v" "VPID[relay-$v]" "${VPORT[relay-$v]}" -
            ;;
        rebound-*)
            t=$(rebound_threads_value "$t") || continue
            write_rebound_relay_cfg "$TMP/relay-$v.conf" "${VPORT[relay-$v]}" "$(variant_log "relay-$v")" "$t"
            spawn_rebound "relay-$v" "VPID[relay-$v]" "${VPORT[relay-$v]}" - || true
            ;;
        esac
    done
    paths="direct $(running_variants relay-)"
    n=$(wc -w <<<"$paths")
    for ((rep = 1; rep <= REPEAT; rep++)); do
        read -r -a order <<<"$paths"
        for ((i = 0; i < (rep - 1) % n; i++)); do order=("${order[@]:1}" "${order[0]}"); done
        say "bench: relay run $rep/$REPEAT, $RELAY_CONNS connections (${order[*]})"
        for v in "${order[@]}"; do relay_cell "$v"; done
    done
    stop_variants relay-
    stop_pid "$TINY_PID"
    TINY_PID=
}

# ---------------------------------------------------------------------------------------------
# Failback.

line_count() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# Wait (bounded by TIMEOUT seconds) for the first line after line OFFSET of FILE containing
# PATTERN (fixed string); prints that line.
wait_line() {
    local file=$1 off=$2 pat=$3 timeout=$4 i line
    for ((i = 0; i < timeout * 10; i++)); do
        line=$(tail -n +$((off + 1)) "$file" 2>/dev/null | grep -m1 -F -- "$pat" || true)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Epoch seconds (with fraction) of a log line: rebound "2026-...Z msg", HAProxy RFC 5424
# "<133>1 2026-...+00:00 host haproxy pid - - msg".
line_epoch() {
    local ts
    case "$1" in
    "<"*) ts=$(awk '{ print $2 }' <<<"$1") ;;
    *) ts=$(awk '{ print $1 }' <<<"$1") ;;
    esac
    date -u -d "$ts" +%s.%N
}

proxy_log() { if [ "$1" = rebound ]; then echo "$TMP/health.log"; else echo "$TMP/haproxy.log"; fi; }

# Last "Server SERVER is UP|DOWN" state of a proxy's log (SERVER defaults to rw/master): UP,
# DOWN, or UP when none yet.
master_state() {
    local last
    last=$(grep -F "Server ${2:-rw/master} is " "$1" 2>/dev/null | grep -E ' is (UP|DOWN)' | tail -n 1 || true)
    case "$last" in *"is DOWN"*) echo DOWN ;; *) echo UP ;; esac
}

# Pid of the running master, from the pid file cluster.sh writes (empty when it is stopped).
master_pid() { if [ -s "$TMP/c/master.pid" ]; then tr -dc '0-9' <"$TMP/c/master.pid"; fi; }

# (Re)start the master and note its new pid (the "other" noise figure subtracts its CPU).
start_master() {
    "$CLUSTER" start-one "$TMP/c" master
    MASTER_PID=$(master_pid)
}

# Health logs of the running rebound processes in front of the cluster's listen rw (the main
# one and the variants), one per line.
rw_rebound_logs() {
    local v
    [ "$REBOUND_OK" != 1 ] || echo "$TMP/health.log"
    for v in $(variants); do
        [[ $v != rebound-* ]] || [ -z "${VPID[$v]:-}" ] || variant_log "$v"
    done
}

# True when every running proxy in front of listen rw has the master UP.
all_up() {
    local v l
    [ "$(master_state "$TMP/haproxy.log")" = UP ] || return 1
    for v in $(variants); do
        if [[ $v == haproxy-* ]] && [ -n "${VPID[$v]:-}" ]; then
            [ "$(master_state "$(variant_log "$v")")" = UP ] || return 1
        fi
    done
    while read -r l; do
        [ -z "$l" ] || [ "$(master_state "$l")" = UP ] || return 1
    done <<<"$(rw_rebound_logs)"
}

# After the master's restart, wait (bounded) until every running proxy routes to it again, so
# the next measurement starts clean.  A proxy that never marked it DOWN (it was down only for a
# few seconds) is already fine.
wait_all_up() {
    local i l
    for ((i = 0; i < 400; i++)); do
        all_up && return 0
        sleep 0.1
    done
    say "bench: warning: a proxy still has the master DOWN 40 s after its restart"
    while read -r l; do
        if [ -n "$l" ] && [ "$(master_state "$l")" != UP ]; then
            problem "rebound ($(basename "$l")) still had rw/master DOWN 40 s after the master's restart"
        fi
    done <<<"$(rw_rebound_logs)"
}

# One failback measurement: PROXY N.
failback() {
    local proxy=$1 n=$2 port log off up_line up kill_line i out pid c0 c1 ports last='' first=''
    if [ "$proxy" = rebound ]; then
        rebound_alive "before failback N=$n" || return 0
        port=$RB_PORT
    else
        port=$HA_PORT
    fi
    log=$(proxy_log "$proxy")
    say "bench: failback $proxy N=$n: stopping master"
    off=$(line_count "$log")
    "$CLUSTER" stop-one "$TMP/c" master
    if ! wait_line "$log" "$off" "Server rw/master is DOWN" 30 >/dev/null; then
        fb_note "$proxy/$n" "master never marked DOWN"
        [ "$proxy" = rebound ] && REBOUND_PROBLEMS+=("no 'Server rw/master is DOWN' within 30 s of stopping the master (N=$n)")
        start_master
        wait_all_up
        return 0
    fi

    # Open the sessions; they must land on a backup.  5,000 logins take a few seconds.
    "$TMP/holdconns" -P "$port" -n "$n" -o 180 -w 60 >"$TMP/hold.out" 2>"$TMP/hold.err" &
    HOLD_PID=$!
    for ((i = 0; i < 2000; i++)); do
        grep -qx ready "$TMP/hold.out" 2>/dev/null && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "bench:   $(grep -E '^(opened|failed|open_seconds|port_)' "$TMP/hold.out" | tr '\n' ' ')"

    say "bench: failback $proxy N=$n: starting master"
    pid=$HAPROXY_PID
    [ "$proxy" = rebound ] && pid=$REBOUND_PID
    c0=$(cpu_ns "$pid")
    start_master
    # holdconns bounds its own wait (-w 60); this loop is the watchdog on top of it.
    for ((i = 0; i < 900; i++)); do
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$HOLD_PID"
    HOLD_PID=
    # Proxy CPU from just before the restart until all sessions closed: checks plus the kills.
    c1=$(cpu_ns "$pid")
    out=$(cat "$TMP/hold.out")
    fb_add "$proxy/$n/cpu" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a != "" && b != "") printf "%.1f", (b - a) / 1e6 }')"
    fb_add "$proxy/$n/opened" "$(sed -n 's/^opened=//p' <<<"$out")"
    fb_add "$proxy/$n/closed" "$(sed -n 's/^closed=//p' <<<"$out")"
    ports=$(sed -n 's/^port_\([0-9]*\)=\([0-9]*\)$/\2@\1/p' <<<"$out" | tr '\n' ' ')
    fb_note "$proxy/$n" "sessions ${ports% }"
    if up_line=$(wait_line "$log" "$off" "Server rw/master is UP" 5); then
        up=$(line_epoch "$up_line")
        last=$(awk -v a="$up" -v b="$(sed -n 's/^last_close=//p' <<<"$out")" \
            'BEGIN { if (b + 0 > 0) printf "%.1f", (b - a) * 1000 }')
        first=$(awk -v a="$up" -v b="$(sed -n 's/^first_close=//p' <<<"$out")" \
            'BEGIN { if (b + 0 > 0) printf "%.1f", (b - a) * 1000 }')
        fb_add "$proxy/$n/last" "$last"
        fb_add "$proxy/$n/first" "$first"
    else
        fb_note "$proxy/$n" "no UP line"
    fi
    if [ "$proxy" = rebound ]; then
        # rebound's own account: "Killed 1342 sessions on backup servers of rw after rw/master
        # came UP, in 4 ms (clients disconnected in 2 ms)." -- the whole pass, and the part of it
        # until every client socket was reset (older builds wrote only the first figure).
        kill_line=$(tail -n +$((off + 1)) "$TMP/health.log" | grep -m1 'Killed .* sessions on backup servers' || true)
        fb_add "rebound/$n/self" "$(sed -n 's/.*Killed [0-9]* sessions on backup servers.*, in \([0-9.]*\) ms.*/\1/p' <<<"$kill_line")"
        fb_add "rebound/$n/clients" "$(sed -n 's/.*(clients disconnected in \([0-9.]*\) ms).*/\1/p' <<<"$kill_line")"
        [ -n "$kill_line" ] || fb_note "rebound/$n" "no 'Killed N sessions on backup servers' line"
        rebound_alive "failback N=$n" || true
    fi
    say "bench:   $proxy N=$n: last close ${last:-?} ms after UP (first ${first:-?}), closed $(sed -n 's/^closed=//p' <<<"$out")/$(sed -n 's/^opened=//p' <<<"$out")"
    wait_all_up
}

# Append a value to a failback cell / add a note to PROXY/N once.
fb_add() { FB["$1"]="${FB["$1"]:-} $2"; }
fb_note() {
    case "; ${FB["$1/note"]:-}; " in *"; $2; "*) return 0 ;; esac
    FB["$1/note"]="${FB["$1/note"]:+${FB["$1/note"]}; }$2"
}

run_failback_suite() {
    local rep n proxies
    for ((rep = 1; rep <= REPEAT; rep++)); do
        # Alternate which proxy goes first, as for sysbench.
        if ((rep % 2)); then proxies="rebound haproxy"; else proxies="haproxy rebound"; fi
        for n in $CONNS; do
            for proxy in $proxies; do failback "$proxy" "$n"; done
        done
    done
}

# ---------------------------------------------------------------------------------------------
# Failback with clients that reconnect (holdconns -r) through the variants of listen rw.

rc_add() { RC["$1"]="${RC["$1"]:-} $2"; }
rc_note() {
    case "; ${RC["$1/note"]:-}; " in *"; $2; "*) return 0 ;; esac
    RC["$1/note"]="${RC["$1/note"]:+${RC["$1/note"]}; }$2"
}

# ms from epoch A to epoch B, or nothing when B is missing or 0 (never happened).
ms_after() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b + 0 > 0) printf "%.1f", (b - a) * 1000 }'; }

# One failback-reconnect measurement: VARIANT N [CA_FILE] (tls-failback: TLS clients, holdconns -s).
reconnect_round() {
    local v=$1 n=$2 port log off pid i out up_line up c0 c1 kills reset='' first='' all=''
    variant_alive "$v" "before failback-reconnect N=$n" || return 0
    port=${VPORT[$v]} log=$(variant_log "$v") pid=${VPID[$v]}
    say "bench: failback-reconnect $v N=$n: stopping master"
    off=$(line_count "$log")
    "$CLUSTER" stop-one "$TMP/c" master
    if ! wait_line "$log" "$off" "Server rw/master is DOWN" 30 >/dev/null; then
        rc_note "$v/$n" "master never marked DOWN"
        [[ $v != rebound-* ]] || problem "$v: no 'Server rw/master is DOWN' within 30 s of stopping the master (N=$n)"
        start_master
        wait_all_up
        return 0
    fi

    # The sessions must land on a backup; the clients reconnect once the proxy closes them.
    "$TMP/holdconns" -P "$port" -n "$n" -o 180 -w 60 -r "$MASTER_PORT" ${3:+-s "$3"} >"$TMP/hold.out" 2>"$TMP/hold.err" &
    HOLD_PID=$!
    for ((i = 0; i < 2000; i++)); do
        grep -qx ready "$TMP/hold.out" 2>/dev/null && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    say "bench:   $(grep -E '^(opened|failed|open_seconds|port_)' "$TMP/hold.out" | tr '\n' ' ')"

    say "bench: failback-reconnect $v N=$n: starting master"
    c0=$(cpu_ns "$pid")
    start_master
    # holdconns bounds its own wait (-w 60); this loop is the watchdog on top of it.
    for ((i = 0; i < 900; i++)); do
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$HOLD_PID"
    HOLD_PID=
    # Proxy CPU from just before the restart until every client was back (or the timeout); with
    # TLS clients, the restarted master's CPU since its start too.
    c1=$(cpu_ns "$pid")
    # (utime+stime: the CPU of connection threads that already ended counts too; 10 ms ticks)
    [ -z "${3:-}" ] || rc_add "$v/$n/master_cpu" "$(awk -v t="$(cpu_ticks "$(cat "$TMP/c/master.pid" 2>/dev/null)")" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { if (t != "") printf "%.0f", t * 1000 / hz }')"
    out=$(cat "$TMP/hold.out")
    rc_add "$v/$n/cpu" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { if (a != "" && b != "") printf "%.1f", (b - a) / 1e6 }')"
    for i in opened closed on_master reconnect_failed reconnect_timeouts landed_other master_closed \
        ${3:+tls_opened tls_back}; do
        rc_add "$v/$n/$i" "$(kv "$i" "$out")"
    done
    rc_add "$v/$n/client" "$(awk -v c="$(kv phase2_cpu_s "$out")" 'BEGIN { if (c != "") printf "%.0f", c * 1000 }')"
    rc_note "$v/$n" "sessions $(sed -n 's/^port_\([0-9]*\)=\([0-9]*\)$/\2@\1/p' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
    if up_line=$(wait_line "$log" "$off" "Server rw/master is UP" 5); then
        up=$(line_epoch "$up_line")
        reset=$(ms_after "$up" "$(kv last_close "$out")")
        first=$(ms_after "$up" "$(kv first_master "$out")")
        all=$(ms_after "$up" "$(kv all_master "$out")")
        rc_add "$v/$n/reset" "$reset"
        rc_add "$v/$n/first" "$first"
        rc_add "$v/$n/all" "$all"
        [ -n "$all" ] || rc_note "$v/$n" "a run where not every session was back on the master within 60 s ($(grep -E '^left_' <<<"$out" | grep -v '=0$' | sed 's/^left_//' | tr '\n' ' ' | sed 's/ $//'))"
    else
        rc_note "$v/$n" "no UP line"
    fi
    if [[ $v == rebound-* ]]; then
        # "Killed 1342 sessions on backup servers of rw after rw/master came UP, in 4 ms (clients
        # disconnected in 2 ms)."; should a build write one such line per worker, the sessions
        # add up and the slowest worker's times count.
        kills=$(tail -n +$((off + 1)) "$log" | grep 'Killed .* sessions on backup servers' || true)
        rc_add "$v/$n/own" "$(sed -n 's/.*, in \([0-9.]*\) ms.*/\1/p' <<<"$kills" | sort -g | tail -n 1)"
        rc_add "$v/$n/clients" "$(sed -n 's/.*(clients disconnected in \([0-9.]*\) ms).*/\1/p' <<<"$kills" | sort -g | tail -n 1)"
        rc_add "$v/$n/killed" "$(sed -n 's/.*Killed \([0-9]*\) sessions.*/\1/p' <<<"$kills" | awk '{ s += $1 } END { print s + 0 }')"
        [ -n "$kills" ] || rc_note "$v/$n" "no 'Killed N sessions on backup servers' line"
        variant_alive "$v" "failback-reconnect N=$n" || true
    fi
    say "bench:   $v N=$n: last reset ${reset:-?} ms after UP, first on the master ${first:-?}, all back ${all:-?}; $(kv on_master "$out")/$(kv opened "$out") back, $(kv reconnect_failed "$out") failed reconnects ($(kv reconnect_timeouts "$out") timeouts)"
    wait_all_up
}

run_reconnect_suite() {
    local rep i k n v order vs line
    vs=$(running_variants "")
    k=$(wc -w <<<"$vs")
    [ "$k" -gt 0 ] || return 0
    # The kernel's own floor for the resets, no proxy and no MariaDB (resetfloor.c), per N.
    for n in $RCONNS; do
        while read -r line; do
            rc_add "floor/$n/resets" "$(sed -n 's/.*resets_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
            rc_add "floor/$n/peer" "$(sed -n 's/.*peer_last_ms=\([0-9.]*\).*/\1/p' <<<"$line")"
        done < <("$TMP/resetfloor" "$n" 5 2>&1 || true)
    done
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for n in $RCONNS; do
            # Rotate which variant goes first, as for sysbench.
            read -r -a order <<<"$vs"
            for ((i = 0; i < (rep - 1) % k; i++)); do order=("${order[@]:1}" "${order[0]}"); done
            for v in "${order[@]}"; do reconnect_round "$v" "$n"; done
        done
    done
}

# ---------------------------------------------------------------------------------------------
# GTID guard: two rebound processes in front of the same cluster, one with `expect gtid-covers
# backups` on the master, one without; the master is stopped and started 5 times per repeat, and
# each round records, for each, the ms from the moment the restarted master takes logins to its
# `Server rw/master is UP` line.

declare -A GG # "off|on/metric" -> space-separated values

gg_round() {
    local off_log=$TMP/gg-off-health.log on_log=$TMP/gg-on-health.log o1 o2 t0 l
    o1=$(line_count "$off_log") o2=$(line_count "$on_log")
    "$CLUSTER" stop-one "$TMP/c" master
    wait_line "$off_log" "$o1" "Server rw/master is DOWN" 30 >/dev/null || return 0
    wait_line "$on_log" "$o2" "Server rw/master is DOWN" 30 >/dev/null || return 0
    o1=$(line_count "$off_log") o2=$(line_count "$on_log")
    start_master # returns once the master takes logins
    t0=$(date -u +%s.%N)
    if l=$(wait_line "$off_log" "$o1" "Server rw/master is UP" 30); then
        GG[off/up]="${GG[off/up]:-} $(ms_after "$t0" "$(line_epoch "$l")")"
    fi
    if l=$(wait_line "$on_log" "$o2" "Server rw/master is UP" 30); then
        GG[on/up]="${GG[on/up]:-} $(ms_after "$t0" "$(line_epoch "$l")")"
    fi
    GG[on/blocked]="${GG[on/blocked]:-} $(tail -n +$((o2 + 1)) "$on_log" | grep -c 'Layer7 missing transactions' || true)"
}

run_gtid_guard_suite() {
    local i
    write_rebound_gg_cfg "$TMP/gg-off.conf" "$GG_OFF_PORT" "$TMP/gg-off-health.log"
    write_rebound_gg_cfg "$TMP/gg-on.conf" "$GG_ON_PORT" "$TMP/gg-on-health.log" "expect gtid-covers backups"
    spawn_rebound gg-off GG_OFF_PID "$GG_OFF_PORT" || return 0
    spawn_rebound gg-on GG_ON_PID "$GG_ON_PORT" || return 0
    for ((i = 0; i < 5 * REPEAT; i++)); do gg_round; done
    wait_all_up
    stop_extra GG_OFF_PID gg-off
    stop_extra GG_ON_PID gg-on
}

report_gtid_guard() {
    echo
    echo "gtid-guard: the master stopped and started $((5 * REPEAT)) times; ms from the moment it takes logins"
    echo "again to each rebound's 'Server rw/master is UP' line (checks: fastinter/downinter 100ms, rise 2),"
    echo "without and with 'expect gtid-covers backups' on the master; median (every run)."
    echo "  without the guard: $(runs_cell "${GG[off/up]:-}")"
    echo "  with the guard:    $(runs_cell "${GG[on/up]:-}")"
    echo "  with / without: $(ratio "$(median "${GG[on/up]:-}")" "$(median "${GG[off/up]:-}")"); rounds the guard held the master back: $(sum "${GG[on/blocked]:-}")"
}

# ---------------------------------------------------------------------------------------------
# Failover: new connections in a loop (connloop) while the master is killed or frozen.

fo_add() { FO["$1"]="${FO["$1"]:-} $2"; }
fo_note() {
    case "; ${FO["$1/note"]:-}; " in *"; $2; "*) return 0 ;; esac
    FO["$1/note"]="${FO["$1/note"]:+${FO["$1/note"]}; }$2"
}

# True when PID is the running mariadbd of our master (checked before signalling it).
is_master_pid() {
    [ -n "$1" ] && { tr '\0' '\n' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qx -- "--datadir=$TMP/c/master"
}

# Both failover proxies route to the master again (bounded, 40 s).
wait_fo_up() {
    local i
    for ((i = 0; i < 400; i++)); do
        if [ "$(master_state "$TMP/haproxy-fo.log" fo/master)" = UP ] &&
            { [ -z "$FO_RB_PID" ] || [ "$(master_state "$TMP/health-fo.log" fo/master)" = UP ]; }; then
            return 0
        fi
        sleep 0.1
    done
    say "bench: warning: a failover proxy still has the master DOWN 40 s after it came back"
    if [ -n "$FO_RB_PID" ] && [ "$(master_state "$TMP/health-fo.log" fo/master)" != UP ]; then
        problem "rebound-fo still had fo/master DOWN 40 s after the master came back"
    fi
}

# One failover measurement: FAULT (kill9 | sigstop) PROXY (rebound | haproxy).
failover() {
    local fault=$1 proxy=$2 port log off hoff roff pid t0 i n=0 r first fail hung early late after slow
    local line down reason out
    if [ "$proxy" = rebound ]; then
        extra_alive FO_RB_PID rebound-fo "before failover ($fault)" || return 0
        port=$FO_RB_PORT log=$TMP/health-fo.log
    else
        port=$FO_HA_PORT log=$TMP/haproxy-fo.log
    fi
    hoff=$(line_count "$TMP/haproxy-fo.log") roff=$(line_count "$TMP/health-fo.log")
    off=$hoff
    [ "$proxy" = haproxy ] || off=$roff
    # Every round keeps its own output (BENCH_KEEP=1 to look at it).
    FO_ROUND=$((FO_ROUND + 1))
    out=$TMP/loop-$FO_ROUND-$fault-$proxy.out
    "$TMP/connloop" -P "$port" -m "$MASTER_PORT" -a "$LOOP_AFTER" -t 20 -c "$LOOP_TIMEOUT" \
        -r "$LOOP_TIMEOUT" -i "$LOOP_INTERVAL" >"$out" 2>"$TMP/loop.err" &
    LOOP_PID=$!
    # The loop must be running against the master before the fault (bounded, 10 s).
    for ((i = 0; i < 100; i++)); do
        n=$(awk -v m="$MASTER_PORT" '$3 == "ok" && $4 == m { n++ } END { print n + 0 }' "$out")
        [ "$n" -ge 5 ] && break
        kill -0 "$LOOP_PID" 2>/dev/null || break
        sleep 0.1
    done
    pid=$(master_pid)
    if [ "$n" -lt 5 ] || ! is_master_pid "$pid"; then
        fo_note "$fault/$proxy" "a round skipped: the loop did not reach the master"
        stop_pid "$LOOP_PID"
        LOOP_PID=
        return 0
    fi
    say "bench: failover $fault $proxy: fault on master pid $pid"
    # The fault's time is taken right before the signal ($EPOCHREALTIME: no fork in between).
    t0=${EPOCHREALTIME/,/.}
    if [ "$fault" = kill9 ]; then kill -KILL "$pid"; else kill -STOP "$pid"; fi
    # connloop stops LOOP_AFTER s after its first answer from a backup, or 20 s after its start;
    # this loop is the watchdog on top of it.
    for ((i = 0; i < 400; i++)); do
        kill -0 "$LOOP_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$LOOP_PID"
    LOOP_PID=
    # Per attempt: START END ok PORT MS | START END fail ERRNO MS STAGE TEXT.  With paced attempts
    # the first answer from a backup is the earliest end, not the first line.
    r=$(awk -v t0="$t0" -v m="$MASTER_PORT" -v hang="$LOOP_TIMEOUT" '
        $3 == "ok" && $4 != m && $2 >= t0 && (first == "" || $2 < first) { first = $2 }
        $3 == "fail" { fail++; if ($6 == "connect") fconn++; if ($5 >= hang * 1000 - 100) hung++; if ($2 < t0) early++ }
        $3 == "ok" && $4 == m && $1 > t0 { late++ }
        ($3 == "ok" || $3 == "fail") && $2 >= t0 { after++; if ($5 > slow) slow = $5 }
        END { printf "%s %d %d %d %d %d %d %.0f\n", first == "" ? "-" : sprintf("%.1f", (first - t0) * 1000),
                     fail, fconn, hung, early, late, after, slow }
        ' "$out")
    read -r first fail fconn hung early late after slow <<<"$r"
    if [ "$first" = - ]; then
        fo_note "$fault/$proxy" "a round without any answer from a backup in the loop's 20 s"
    else
        fo_add "$fault/$proxy/first" "$first"
    fi
    fo_add "$fault/$proxy/fail" "$fail"
    fo_add "$fault/$proxy/fconn" "$fconn"
    fo_add "$fault/$proxy/hung" "$hung"
    fo_add "$fault/$proxy/after" "$after"
    fo_add "$fault/$proxy/slow" "$slow"
    [ "$early" = 0 ] || fo_note "$fault/$proxy" "attempts failed before the fault"
    [ "$late" = 0 ] || fo_note "$fault/$proxy" "attempts started after the fault were answered by the master"
    if line=$(wait_line "$log" "$off" "Server fo/master is DOWN" 10); then
        down=$(awk -v a="$t0" -v b="$(line_epoch "$line")" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
        fo_add "$fault/$proxy/down" "$down"
        reason=$(sed -n 's/.*is DOWN, reason: \([^,]*\),.*/\1/p' <<<"$line")
        fo_note "$fault/$proxy" "DOWN by: ${reason:-?}"
    else
        fo_note "$fault/$proxy" "no DOWN line"
        down=-
    fi
    say "bench:   $fault $proxy: first answer from a backup ${first} ms after the fault, DOWN line $down ms, $fail of $after attempts failed ($fconn in connect or login, $hung hung)"
    # Both proxies must have seen the master DOWN before it comes back, so that the next round
    # starts clean (bounded, 10 s each).
    wait_line "$TMP/haproxy-fo.log" "$hoff" "Server fo/master is DOWN" 10 >/dev/null ||
        say "bench: warning: haproxy-fo did not mark the master DOWN"
    if [ -n "$FO_RB_PID" ]; then
        wait_line "$TMP/health-fo.log" "$roff" "Server fo/master is DOWN" 10 >/dev/null ||
            say "bench: warning: rebound-fo did not mark the master DOWN"
    fi
    if [ "$fault" = kill9 ]; then
        for ((i = 0; i < 100; i++)); do # bounded: the killed process must be gone (10 s)
            is_master_pid "$pid" || break
            sleep 0.1
        done
        start_master
    else
        kill -CONT "$pid"
    fi
    wait_fo_up
    [ "$proxy" = haproxy ] || extra_alive FO_RB_PID rebound-fo "failover ($fault)" || true
}

run_failover_suite() {
    local rep fault proxy proxies
    FO_ROUND=0
    write_haproxy_fo_cfg "$TMP/haproxy-fo.cfg" "$FO_HA_PORT"
    write_rebound_fo_cfg "$TMP/rebound-fo.conf" "$FO_RB_PORT" "$TMP/health-fo.log"
    spawn_haproxy haproxy-fo FO_HA_PID "$FO_HA_PORT"
    spawn_rebound rebound-fo FO_RB_PID "$FO_RB_PORT" || true
    for ((rep = 1; rep <= REPEAT; rep++)); do
        # Alternate which proxy goes first, as for sysbench.
        if ((rep % 2)); then proxies="rebound haproxy"; else proxies="haproxy rebound"; fi
        for fault in $FAULTS; do
            for proxy in $proxies; do failover "$fault" "$proxy"; done
        done
    done
    stop_extra FO_HA_PID haproxy-fo
    stop_extra FO_RB_PID rebound-fo
}

# ---------------------------------------------------------------------------------------------
# Memory: RSS per idle session.

vm_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# A fresh PROXY (main config, own port): VmRSS after its first login, then with MEM_CONNS idle
# sessions open through it (each logged in and asked SELECT @@port, as in the failback test).
mem_measure() {
    local proxy=$1 name=$1-mem port r0 r1 i opened
    if [ "$proxy" = rebound ]; then
        port=$MEM_RB_PORT
        write_rebound_cfg "$TMP/$name.conf" "$port" "$TMP/health-mem.log"
        spawn_rebound "$name" MEM_PID "$port" || return 0
    else
        port=$MEM_HA_PORT
        write_haproxy_cfg "$TMP/$name.cfg" "$port"
        spawn_haproxy "$name" MEM_PID "$port"
    fi
    sleep 1
    r0=$(vm_rss_kib "$MEM_PID")
    "$TMP/holdconns" -P "$port" -n "$MEM_CONNS" -o 180 -w 120 >"$TMP/hold.out" 2>"$TMP/hold.err" &
    HOLD_PID=$!
    for ((i = 0; i < 2000; i++)); do
        grep -qx ready "$TMP/hold.out" 2>/dev/null && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1 # let the last sessions go idle
    r1=$(vm_rss_kib "$MEM_PID")
    stop_pid "$HOLD_PID"
    HOLD_PID=
    opened=$(sed -n 's/^opened=//p' "$TMP/hold.out")
    say "bench: memory $proxy: VmRSS ${r0:-?} KiB, ${r1:-?} KiB with ${opened:-0} idle sessions ($(grep -E '^port_' "$TMP/hold.out" | tr '\n' ' '))"
    [ "$proxy" = haproxy ] || extra_alive MEM_PID "$name" "idle sessions" || return 0
    stop_extra MEM_PID "$name"
    MEM["$proxy/before"]=$r0 MEM["$proxy/after"]=$r1 MEM["$proxy/opened"]=${opened:-0}
    MEM["$proxy/bytes"]=$(awk -v a="$r0" -v b="$r1" -v n="${opened:-0}" \
        'BEGIN { if (n > 0 && a != "" && b != "") printf "%.0f", (b - a) * 1024 / n; else print "-" }')
}

run_memory_suite() {
    local proxy
    for proxy in rebound haproxy; do mem_measure "$proxy"; done
}

# ---------------------------------------------------------------------------------------------
# TLS (sections tls-sysbench and tls-failback).  One self-signed certificate (EC P-256, CN
# 127.0.0.1) serves every MariaDB instance and every terminating rebound; sysbench takes it as its
# CA.  Nobody verifies host names: what is measured is the cost of the encryption.

# The certificate, its key, rebound's PEM (chain + key, 0600), sysbench's client files, and the
# mariadbd options of every instance; before the cluster starts (cluster.sh reads DIR/NAME.opts).
# sysbench always presents client-cert.pem, and MariaDB rejects a client certificate it cannot
# verify ("tlsv1 alert unknown ca"), hence --ssl-ca with the same certificate.
tls_setup() {
    local d=$TMP/tls name
    command -v openssl >/dev/null || die "openssl not found (the TLS sections need it)"
    mkdir -p "$d" "$TMP/c"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/key.pem" \
        -out "$d/cert.pem" -days 2 -subj /CN=127.0.0.1 >"$d/openssl.log" 2>&1 ||
        die "openssl req failed: $(tail -n 3 "$d/openssl.log")"
    (umask 077 && cat "$d/cert.pem" "$d/key.pem" >"$d/rebound.pem")
    cp "$d/cert.pem" "$d/cacert.pem"
    cp "$d/cert.pem" "$d/client-cert.pem"
    cp "$d/key.pem" "$d/client-key.pem"
    for name in master replica1 replica2; do
        printf '%s\n' "--ssl-cert=$d/cert.pem" "--ssl-key=$d/key.pem" "--ssl-ca=$d/cert.pem" >>"$TMP/c/$name.opts"
    done
}

# The bind and server options of a TLS proxy: NAME -> "BIND_OPTIONS|SERVER_OPTIONS".
tls_opts() {
    case "$1" in
    tls-term) echo "ssl crt $TMP/tls/rebound.pem|ssl as-client" ;;
    tls-termplain | rebound-tls) echo "ssl crt $TMP/tls/rebound.pem|no-ssl" ;;
    rebound-tls-srv) echo "ssl crt $TMP/tls/rebound.pem|ssl always" ;;
    rebound-tls-srv-nr) echo "ssl crt $TMP/tls/rebound.pem|ssl always no-ssl-reuse" ;;
    *) echo "|" ;;
    esac
}

# Start TLS proxy NAME (VPID/VPORT; rebound ones with an admin port in VPORT[NAME-admin]).
# HAProxy, and rebound in passthrough, have the configuration of the sysbench section.
tls_spawn() {
    local name=$1 o
    case "$name" in
    *haproxy* | tls-hapass)
        write_haproxy_cfg "$TMP/$name.cfg" "${VPORT[$name]}"
        spawn_haproxy "$name" "VPID[$name]" "${VPORT[$name]}"
        ;;
    *)
        o=$(tls_opts "$name")
        write_rebound_cfg "$TMP/$name.conf" "${VPORT[$name]}" "$(variant_log "$name")" "" "${o%|*}" \
            "${o#*|}" "${VPORT[$name-admin]}"
        spawn_rebound "$name" "VPID[$name]" "${VPORT[$name]}" || true
        ;;
    esac
}

# True while the process of TLS path NAME runs (tls-direct: always); a rebound found dead is
# recorded (WHAT: during what).
tls_alive() {
    case "$1" in
    tls-direct) return 0 ;;
    tls-hapass | haproxy-tls) [ -n "${VPID[$1]:-}" ] && kill -0 "${VPID[$1]}" 2>/dev/null ;;
    *) extra_alive "VPID[$1]" "$1" "$2" ;;
    esac
}

# One statement on the admin port of TLS rebound NAME (bounded).
tls_admin_sql() {
    mariadb --no-defaults --connect-timeout=3 -h127.0.0.1 -P"${VPORT[$1-admin]}" -ubench -p"$ADMIN_PASS" \
        -N -B -e "$2" 2>/dev/null
}

# rebound NAME's status counter COUNTER, or nothing.
tls_status() { tls_admin_sql "$1" "SELECT value FROM status WHERE name = '$2'" || true; }

# TLS handshakes rebound NAME did with clients so far (nothing for HAProxy and tls-direct).
tls_handshakes() {
    case "$1" in
    tls-direct | tls-hapass | haproxy-tls) ;;
    *) tls_status "$1" tls_client_handshakes ;;
    esac
}

# TLS handshakes the master accepted so far (Ssl_accepts; health checks are plain).
master_ssl_accepts() { root_sql master "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'" | awk '{ print $2 }'; }

# Which side of one session through TLS path NAME is TLS: a `mariadb --ssl` session prints the
# client's view (its `status` command) and the master's (Ssl_cipher of the session), then sleeps a
# second, while rebound's sessions table gives its own view (client_tls, server_tls).  The result
# goes into TLS[NAME/check] for the report, and a claim the check refutes is a problem.
tls_check() {
    local name=$1 port=$MASTER_PORT out cli srv rb='' i pid
    [ "$name" = tls-direct ] || port=${VPORT[$name]}
    mariadb --no-defaults --ssl --connect-timeout=5 -h127.0.0.1 -P"$port" -uapp -papp-pass -e \
        "status; SHOW SESSION STATUS LIKE 'Ssl_cipher'; SELECT SLEEP(1)" >"$TMP/$name-check.txt" 2>&1 &
    pid=$!
    if [[ $name != tls-direct && $name != tls-hapass ]]; then
        for ((i = 0; i < 10; i++)); do # bounded: 1 s
            sleep 0.1
            rb=$(tls_admin_sql "$name" "SELECT client_tls, '/', server_tls FROM sessions" | head -n 1 | tr '\t' ' ')
            [ -z "$rb" ] || break
        done
    fi
    wait "$pid" 2>/dev/null || true
    out=$(cat "$TMP/$name-check.txt")
    cli=$(sed -n 's/^SSL:[[:space:]]*//p' <<<"$out")
    srv=$(awk '$1 == "Ssl_cipher" { print $2 }' <<<"$out")
    TLS[$name/check]="client sees: ${cli:-?}; master's Ssl_cipher: ${srv:-(none)}${rb:+; in rebound, client_tls / server_tls: $rb}"
    say "bench: tls check $name: ${TLS[$name/check]}"
    case "$cli" in *"Cipher in use"*) ;; *) problem "tls check $name: the client's session is not TLS ($cli)" ;; esac
    case "$name" in
    tls-termplain) [ -z "$srv" ] || problem "tls check $name: the master's side is TLS ($srv), expected plain" ;;
    *) [ -n "$srv" ] || problem "tls check $name: the master's side is plain, expected TLS" ;;
    esac
}

TLS_PATHS="tls-direct tls-term tls-termplain tls-hapass tls-rbpass"

run_tls_sysbench_suite() {
    local p r paths='tls-direct'
    for p in $TLS_PATHS; do
        [ "$p" = tls-direct ] || tls_spawn "$p"
    done
    for p in $TLS_PATHS; do
        tls_alive "$p" "start-up" 2>/dev/null || continue
        [ "$p" = tls-direct ] || paths="$paths $p"
        tls_check "$p"
    done
    for p in tls-term tls-termplain tls-rbpass; do
        [ -n "${VPID[$p]:-}" ] && TLS[$p/h0]=$(tls_handshakes "$p") TLS[$p/r0]=$(tls_status "$p" tls_client_resumptions)
    done
    THREADS=$TLS_THREADS run_sysbench_suite "$paths" "tls: "
    for p in tls-term tls-termplain tls-rbpass; do
        [ -n "${VPID[$p]:-}" ] || continue
        r=$(tls_status "$p" tls_client_resumptions)
        TLS[$p/counts]="TLS handshakes with clients $(($(tls_handshakes "$p") - ${TLS[$p/h0]:-0})), resumptions $((${r:-0} - ${TLS[$p/r0]:-0})), failures $(tls_status "$p" tls_client_handshake_failures) (server side: $(tls_status "$p" tls_server_handshakes) handshakes)"
        stop_extra "VPID[$p]" "$p"
    done
    stop_extra "VPID[tls-hapass]" tls-hapass
}

# The tls-failback proxies: HAProxy passing TLS through, rebound terminating with plain to the
# servers, and with TLS to them, resuming its session with the master and not.
TLS_FB="haproxy-tls rebound-tls rebound-tls-srv rebound-tls-srv-nr"

# Every tls-failback proxy routes to the master again (bounded, 40 s).
tls_wait_up() {
    local i v ok
    for ((i = 0; i < 400; i++)); do
        ok=1
        for v in $TLS_FB; do
            [ -z "${VPID[$v]:-}" ] || [ "$(master_state "$(variant_log "$v")")" = UP ] || ok=0
        done
        [ "$ok" = 0 ] || return 0
        sleep 0.1
    done
    problem "a tls-failback proxy still had rw/master DOWN 40 s after the master's restart"
}

# rebound NAME's TLS counters since TLS[NAME/c0] (tls_fb_counters NAME start: take the start).
tls_fb_counters() {
    local v=$1 now='' k a b
    for k in tls_client_handshakes tls_client_resumptions tls_server_handshakes tls_server_resumptions; do
        now="$now $(tls_status "$v" "$k")"
    done
    if [ "${2:-}" = start ]; then
        TLS[$v/c0]=$now
        return 0
    fi
    read -r -a a <<<"${TLS[$v/c0]:-0 0 0 0}"
    read -r -a b <<<"$now"
    TLS[$v/counts]="TLS handshakes with clients $((${b[0]:-0} - ${a[0]:-0})), resumed $((${b[1]:-0} - ${a[1]:-0})); with servers $((${b[2]:-0} - ${a[2]:-0})), resumed $((${b[3]:-0} - ${a[3]:-0})); client handshake failures $(tls_status "$v" tls_client_handshake_failures)"
}

run_tls_failback_suite() {
    local rep n v vs order
    for v in $TLS_FB; do tls_spawn "$v"; done
    vs=$(for v in $TLS_FB; do [ -z "${VPID[$v]:-}" ] || printf '%s ' "$v"; done)
    for v in $vs; do [[ $v != rebound-* ]] || tls_fb_counters "$v" start; done
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for n in $TLS_RCONNS; do
            # Alternate the order of the proxies.
            order=$vs
            ((rep % 2)) || order=$(tr ' ' '\n' <<<"$vs" | tac | tr '\n' ' ')
            for v in $order; do
                reconnect_round "$v" "$n" "$TMP/tls/cacert.pem"
                tls_wait_up
            done
        done
    done
    for v in $vs; do
        [[ $v != rebound-* ]] || tls_fb_counters "$v"
        stop_extra "VPID[$v]" "$v"
    done
}

report_tls_sysbench() {
    local test threads p v h t rp
    echo
    echo "tls-sysbench: sysbench with TLS (--mysql-ssl=on) at $TLS_THREADS threads; median of $REPEAT run(s) of ${TIME} s,"
    echo "the paths' order rotating.  direct = straight to the master; term-tls = rebound terminates the client's TLS"
    echo "and talks TLS to the master (bind ssl crt, server ssl as-client); term-plain = terminates, plain to the"
    echo "master (no-ssl); hap-pass = HAProxy mode tcp, the client's TLS end to end to MariaDB; rb-pass = rebound"
    echo "without ssl on bind, the same.  CPU = proxy CPU seconds (user+sys, all threads) per 1,000 queries."
    printf '\n%-18s %4s | %9s %9s %10s %9s %9s\n' QPS thr direct term-tls term-plain hap-pass rb-pass
    for test in $TESTS; do for threads in $TLS_THREADS; do
        printf '%-18s %4s |' "$test" "$threads"
        for p in $TLS_PATHS; do printf ' %9s' "$(med "$test/$threads/$p/qps")"; done
        echo
    done; done
    printf '\n%-18s %4s | %9s %10s %9s %9s\n' "CPU s / 1k queries" thr term-tls term-plain hap-pass rb-pass
    for test in $TESTS; do for threads in $TLS_THREADS; do
        printf '%-18s %4s |' "$test" "$threads"
        for p in tls-term tls-termplain tls-hapass tls-rbpass; do printf ' %9s' "$(med "$test/$threads/$p/cpu")"; done
        echo
    done; done
    echo
    echo "ratios of the medians (CPU per query; QPS in brackets): terminating / rebound passthrough (target <= 2),"
    echo "rebound passthrough / HAProxy passthrough, terminating / HAProxy passthrough:"
    for test in $TESTS; do for threads in $TLS_THREADS; do
        t=$test/$threads
        rp=$(med "$t/tls-rbpass/cpu") h=$(med "$t/tls-hapass/cpu")
        printf '  %-18s %4s: term-tls/rb-pass %s (%s), term-plain/rb-pass %s (%s), rb-pass/hap-pass %s (%s), term-tls/hap-pass %s (%s)\n' \
            "$test" "$threads" \
            "$(ratio "$(med "$t/tls-term/cpu")" "$rp")" "$(ratio "$(med "$t/tls-term/qps")" "$(med "$t/tls-rbpass/qps")")" \
            "$(ratio "$(med "$t/tls-termplain/cpu")" "$rp")" "$(ratio "$(med "$t/tls-termplain/qps")" "$(med "$t/tls-rbpass/qps")")" \
            "$(ratio "$rp" "$h")" "$(ratio "$(med "$t/tls-rbpass/qps")" "$(med "$t/tls-hapass/qps")")" \
            "$(ratio "$(med "$t/tls-term/cpu")" "$h")" "$(ratio "$(med "$t/tls-term/qps")" "$(med "$t/tls-hapass/qps")")"
    done; done
    echo
    echo "which side is TLS (one mariadb --ssl session per path before the runs):"
    for p in $TLS_PATHS; do echo "  $p: ${TLS[$p/check]:-not checked}"; done
    echo "TLS handshakes per run (summed over runs): accepted by the master | done by rebound with clients:"
    for test in $TESTS; do for threads in $TLS_THREADS; do for p in $TLS_PATHS; do
        v=${RES["$test/$threads/$p/qps"]:-}
        [ -n "$v" ] || continue
        printf '  %-18s %3s %-14s %6s | %s\n' "$test" "$threads" "$p" "$(sum "${RES["$test/$threads/$p/mtls"]:-}")" \
            "$(sum "${RES["$test/$threads/$p/rtls"]:-}")"
    done; done; done
    for p in tls-term tls-termplain tls-rbpass; do
        [ -z "${TLS[$p/counts]:-}" ] || echo "  $p, rebound's counters over the section: ${TLS[$p/counts]}"
    done
    echo "all runs (QPS | p95 ms | proxy CPU s/1k q | other: CPU share used outside this run, noise):"
    THREADS=$TLS_THREADS all_runs "$TESTS" "$TLS_PATHS"
}

report_tls_failback() {
    local n v
    echo
    echo "tls-failback: failback-reconnect (see that section) with TLS clients: holdconns -s, Connector/C with"
    echo "MYSQL_OPT_SSL_ENFORCE and the test CA, no host name check, every login a full TLS handshake (Connector/C"
    echo "does not resume TLS sessions across connections).  rebound-tls terminates the clients' TLS and talks plain to the"
    echo "servers (no-ssl), so MariaDB's own TLS cost is not in its figures; haproxy-tls (mode tcp) passes the"
    echo "clients' TLS through to MariaDB, which then does every handshake.  rebound-tls-srv terminates and talks TLS"
    echo "to the servers too (ssl always), resuming its TLS session with the master; rebound-tls-srv-nr the same with"
    echo "no-ssl-reuse (a full handshake with the master per session).  All at their default thread counts."
    echo "ms from the proxy's 'Server rw/master is UP' line, median (every run); tls = sessions of phase 1 /"
    echo "reconnects onto the master that were TLS (sums); master CPU = the restarted mariadbd's CPU ms from its start"
    echo "until every client was back (median)."
    printf '%5s %-18s | %-24s | %-24s | %-24s | %-11s | %-11s | %6s %5s %5s | %7s %6s %6s | %9s\n' N proxy "reset ms" \
        "first ms" "all ms" back/opened "tls" failed t/o other "CPU ms" client master own/clnt
    for n in $TLS_RCONNS; do
        for v in $TLS_FB; do
            [ -n "${RC["$v/$n/opened"]:-}${RC["$v/$n/note"]:-}" ] || continue
            printf '%5s %-18s | %-24s | %-24s | %-24s | %-11s | %-11s | %6s %5s %5s | %7s %6s %6s | %9s\n' "$n" "$v" \
                "$(runs_cell "${RC["$v/$n/reset"]:-}")" "$(runs_cell "${RC["$v/$n/first"]:-}")" \
                "$(runs_cell "${RC["$v/$n/all"]:-}")" \
                "$(sum "${RC["$v/$n/on_master"]:-}")/$(sum "${RC["$v/$n/opened"]:-}")" \
                "$(sum "${RC["$v/$n/tls_opened"]:-}")/$(sum "${RC["$v/$n/tls_back"]:-}")" \
                "$(sum "${RC["$v/$n/reconnect_failed"]:-}")" "$(sum "${RC["$v/$n/reconnect_timeouts"]:-}")" \
                "$(sum "${RC["$v/$n/landed_other"]:-}")" \
                "$(median "${RC["$v/$n/cpu"]:-}")" "$(median "${RC["$v/$n/client"]:-}")" \
                "$(median "${RC["$v/$n/master_cpu"]:-}")" \
                "$([[ $v != rebound-* ]] || echo "$(median "${RC["$v/$n/own"]:-}")/$(median "${RC["$v/$n/clients"]:-}")")"
        done
        echo "  N=$n rebound-tls/HAProxy: reset $(tls_rc_ratio "$n" reset), first $(tls_rc_ratio "$n" first), all back $(tls_rc_ratio "$n" all) (target for all back: <= 1)"
        echo "  N=$n rebound-tls-srv/HAProxy: all back $(tls_rc_ratio "$n" all rebound-tls-srv), master CPU $(tls_rc_ratio "$n" master_cpu rebound-tls-srv)"
        echo "  N=$n resuming / not resuming the master's TLS session (rebound-tls-srv / rebound-tls-srv-nr): all back $(tls_rc_ratio "$n" all rebound-tls-srv rebound-tls-srv-nr), master CPU $(tls_rc_ratio "$n" master_cpu rebound-tls-srv rebound-tls-srv-nr), rebound CPU $(tls_rc_ratio "$n" cpu rebound-tls-srv rebound-tls-srv-nr)"
    done
    for n in $TLS_RCONNS; do
        for v in $TLS_FB; do
            [ -z "${RC["$v/$n/note"]:-}" ] || echo "  $v N=$n: ${RC["$v/$n/note"]}"
        done
    done
    for v in $TLS_FB; do
        [ -z "${TLS[$v/counts]:-}" ] || echo "  $v over the section: ${TLS[$v/counts]}"
    done
}

# Ratio of the medians of figure $2 at N=$1: variant $3 (rebound-tls) over variant $4 (haproxy-tls).
tls_rc_ratio() {
    ratio "$(median "${RC["${3:-rebound-tls}/$1/$2"]:-}")" "$(median "${RC["${4:-haproxy-tls}/$1/$2"]:-}")"
}

# ---------------------------------------------------------------------------------------------
# Report.

median() {
    tr ' ' '\n' <<<"$1" | awk 'NF' | sort -g |
        awk '{ a[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
              else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

sum() { tr ' ' '\n' <<<"$1" | awk '$1 != "" { s += $1; n++ } END { if (n) print s; else print "-" }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# Median of a cell, or "-".
med() { median "${RES["$1"]:-}"; }

# Commit of the router sources, marked when src/ or include/ differ from it.
rebound_version() {
    local v
    v=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) || { echo "(no git)"; return 0; }
    [ -z "$(git -C "$ROOT" status --porcelain -- src include Makefile 2>/dev/null)" ] || v="$v+local changes"
    [ -x "$REBOUND_BIN" ] && v="$v, binary built $(date -u -r "$REBOUND_BIN" '+%Y-%m-%d %H:%M UTC')"
    echo "$v"
}

report() {
    local test threads path q f h r d v
    set +e # a missing figure must not cut the report short
    echo "rebound benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: $CMDLINE (BENCH_QUICK=${BENCH_QUICK:-0} REPEAT=$REPEAT TIME=${TIME}s THREADS='$THREADS' CONNS='$CONNS' MEM_CONNS=$MEM_CONNS"
    echo "  PROXY_THREADS='$PROXY_THREADS' RECONNECT_CONNS='$RCONNS' RELAY_CONNS=$RELAY_CONNS)"
    echo "sections: $SECTIONS"
    echo "machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo); load avg at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "versions: $(mariadbd --version 2>/dev/null | awk '{ print $3 }') | $(haproxy -v | head -n1 | awk '{ print "HAProxy", $3 }') | $(sysbench --version) | rebound $REBOUND_VERSION"
    want sysbench && report_sysbench
    want observe && report_observe
    want threads && report_threads
    want relay && report_relay
    want memory && report_memory
    want failover && report_failover
    want failback && report_failback
    want failback-reconnect && report_reconnect
    want gtid-guard && report_gtid_guard
    want tls-sysbench && report_tls_sysbench
    want tls-failback && report_tls_failback
    want failback-graceful && report_graceful
    [ -z "$MASTER_PORT" ] || echo "  (master :$MASTER_PORT, replica1 :$REPLICA1_PORT, replica2 :$REPLICA2_PORT)"
    if [ ${#REBOUND_PROBLEMS[@]} -gt 0 ]; then
        echo
        echo "problems seen:"
        printf '  - %s\n' "${REBOUND_PROBLEMS[@]}"
    fi
}

report_sysbench() {
    local test threads path q f h r d
    echo
    echo "sysbench: median of $REPEAT run(s) of ${TIME} s; $TABLES tables x $TABLE_SIZE rows; p95 latency in ms;"
    echo "CPU = proxy CPU seconds (user+sys, all threads) per 1,000 queries; ratios are rebound/HAProxy and rebound/direct."
    printf '\n%-18s %4s | %9s %9s %9s | %7s %7s\n' "QPS" thr direct haproxy rebound "r/hap" "r/dir"
    for test in $TESTS; do for threads in $THREADS; do
        d=$(med "$test/$threads/direct/qps") h=$(med "$test/$threads/haproxy/qps") r=$(med "$test/$threads/rebound/qps")
        printf '%-18s %4s | %9s %9s %9s | %7s %7s\n' "$test" "$threads" "$d" "$h" "$r" "$(ratio "$r" "$h")" "$(ratio "$r" "$d")"
    done; done
    printf '\n%-18s %4s | %9s %9s %9s | %7s %7s\n' "p95 latency (ms)" thr direct haproxy rebound "r/hap" "r/dir"
    for test in $TESTS; do for threads in $THREADS; do
        d=$(med "$test/$threads/direct/p95") h=$(med "$test/$threads/haproxy/p95") r=$(med "$test/$threads/rebound/p95")
        printf '%-18s %4s | %9s %9s %9s | %7s %7s\n' "$test" "$threads" "$d" "$h" "$r" "$(ratio "$r" "$h")" "$(ratio "$r" "$d")"
    done; done
    printf '\n%-18s %4s | %9s %9s | %7s\n' "CPU s / 1k queries" thr haproxy rebound "r/hap"
    for test in $TESTS; do for threads in $THREADS; do
        h=$(med "$test/$threads/haproxy/cpu") r=$(med "$test/$threads/rebound/cpu")
        printf '%-18s %4s | %9s %9s | %7s\n' "$test" "$threads" "$h" "$r" "$(ratio "$r" "$h")"
    done; done
    echo
    echo "all runs (QPS | p95 ms | proxy CPU s/1k q | other: CPU share used outside this run, noise):"
    all_runs "$TESTS" "$PATHS"
}

# Every run of TESTS x THREADS x PATHS.
all_runs() {
    local test threads path q f
    for test in $1; do for threads in $THREADS; do for path in $2; do
        q=${RES["$test/$threads/$path/qps"]:-} f=${RES["$test/$threads/$path/fail"]:-}
        [ -n "$q$f" ] || continue
        printf '  %-18s %3s %-8s%s |%s |%s |%s%s\n' "$test" "$threads" "$path" "$q" \
            "${RES["$test/$threads/$path/p95"]:-}" "${RES["$test/$threads/$path/cpu"]:- -}" \
            "${RES["$test/$threads/$path/other"]:-}" "${f:+  (failed runs: $(wc -w <<<"$f"))}"
    done; done; done
}

report_observe() {
    local threads qo ql co cl
    echo
    echo "observe layer7 cost: oltp_point_select through one rebound with two listen sections that differ only in"
    echo "'$OBSERVE_L7' (on) or nothing (off); same servers and checks; the runs alternate off/on."
    echo "Median of $REPEAT run(s) of ${TIME} s; 'paired' = median of the on/off ratios of adjacent runs; CPU = rebound CPU s / 1k queries."
    printf '\n%4s | %9s %9s | %6s %6s | %8s %8s | %6s %6s\n' thr "QPS off" "QPS on" "on/off" paired "CPU off" "CPU on" "on/off" paired
    for threads in $THREADS; do
        qo=$(med "oltp_point_select/$threads/obs-off/qps") ql=$(med "oltp_point_select/$threads/obs-l7/qps")
        co=$(med "oltp_point_select/$threads/obs-off/cpu") cl=$(med "oltp_point_select/$threads/obs-l7/cpu")
        printf '%4s | %9s %9s | %6s %6s | %8s %8s | %6s %6s\n' "$threads" "$qo" "$ql" "$(ratio "$ql" "$qo")" \
            "$(med "obs/$threads/pair_qps")" "$co" "$cl" "$(ratio "$cl" "$co")" "$(med "obs/$threads/pair_cpu")"
    done
    echo "errors that observe layer7 counted against the (healthy) l7 servers over all runs: ${OBS_ERRORS:-?}"
    echo "all runs (QPS | p95 ms | rebound CPU s/1k q | other):"
    all_runs oltp_point_select "obs-off obs-l7"
    for threads in $THREADS; do
        echo "  paired on/off, $threads threads: QPS${RES["obs/$threads/pair_qps"]:- -} | CPU${RES["obs/$threads/pair_cpu"]:- -}"
    done
}

report_memory() {
    local p
    echo
    echo "idle-session memory: a fresh proxy with the main config; VmRSS after its first login, then with N idle"
    echo "sessions open through it (each logged in and asked SELECT @@port); bytes = RSS growth / N."
    printf '%-8s | %6s | %12s | %12s | %9s\n' proxy N "before KiB" "after KiB" "bytes/ses"
    for p in rebound haproxy; do
        printf '%-8s | %6s | %12s | %12s | %9s\n' "$p" "${MEM["$p/opened"]:--}" "${MEM["$p/before"]:--}" \
            "${MEM["$p/after"]:--}" "${MEM["$p/bytes"]:--}"
    done
}

report_failover() {
    local fault p v
    echo
    echo "failover: new sessions (connect + SELECT @@port + quit; a new one every ${LOOP_INTERVAL} ms, each in its own"
    echo "thread, connect and read timeout ${LOOP_TIMEOUT} s) through the proxy while the master is killed (kill -9) or"
    echo "frozen (SIGSTOP); time 0 is taken right before the signal.  'backup' = ms to the first answer from a"
    echo "backup; 'failed' = failed attempts, 'conn' = those that failed to connect or log in, 'hung' = those"
    echo "cut by the ${LOOP_TIMEOUT} s timeout; 'DOWN' = ms to the proxy's 'Server fo/master is DOWN' line; 'slowest' ="
    echo "slowest attempt after the fault (ms); 'tries' = attempts after the fault.  Median (every run)."
    printf '%-7s %-7s | %-26s | %-16s | %-16s | %-12s | %-26s | %7s | %5s\n' fault proxy "backup ms" failed conn hung "DOWN ms" slowest tries
    for fault in $FAULTS; do
        for p in rebound haproxy; do
            printf '%-7s %-7s | %-26s | %-16s | %-16s | %-12s | %-26s | %7s | %5s\n' "$fault" "$p" \
                "$(fo_cell "$fault/$p/first")" "$(fo_cell "$fault/$p/fail")" "$(fo_cell "$fault/$p/fconn")" \
                "$(fo_cell "$fault/$p/hung")" \
                "$(fo_cell "$fault/$p/down")" "$(median "${FO["$fault/$p/slow"]:-}")" \
                "$(median "${FO["$fault/$p/after"]:-}")"
        done
    done
    for fault in $FAULTS; do
        for p in rebound haproxy; do
            [ -z "${FO["$fault/$p/note"]:-}" ] || echo "  $fault $p: ${FO["$fault/$p/note"]}"
        done
    done
    echo "  settings, rebound: $FO_CHECKS, timeout check 1s, timeout connect 300ms, timeout greeting 300ms,"
    echo "    retries 2, $FO_OBSERVE; master: $FO_MASTER_OPTS"
    echo "  settings, haproxy: default-server $FO_CHECKS $FO_OBSERVE; timeout connect 300ms,"
    echo "    timeout check 1s, retries 2, option redispatch, option mysql-check; master: $FO_MASTER_OPTS"
}

# "median (run run ...)" of a failover cell.
fo_cell() { local v=${FO["$1"]:-}; echo "$(median "$v") (${v# })"; }

report_failback() {
    local n p l lv
    echo
    echo "failback: N idle sessions on a backup, master restarted; 'last' = ms from the proxy's 'Server rw/master"
    echo "is UP' log line to the last session seen closed by the client (median, then every run), 'first' = same"
    echo "for the first close (median); closed/opened summed over runs; CPU = proxy CPU ms (all threads) from the"
    echo "master's restart to the last close (median); 'own' = the ms rebound logs in its 'Killed N sessions ... in"
    echo "X ms' line, 'clients' = its '(clients disconnected in Y ms)' (medians)."
    printf '%6s %-8s | %-32s | %7s | %-13s | %7s | %5s | %7s | %s\n' N proxy "last ms: median (runs)" "first" "closed/opened" "CPU ms" own clients "r/hap"
    for n in $CONNS; do
        for p in rebound haproxy; do
            lv=${FB["$p/$n/last"]:-} l=$(median "$lv")
            printf '%6s %-8s | %-32s | %7s | %-13s | %7s | %5s | %7s | %s\n' "$n" "$p" \
                "$l (${lv# })" "$(median "${FB["$p/$n/first"]:-}")" \
                "$(sum "${FB["$p/$n/closed"]:-}")/$(sum "${FB["$p/$n/opened"]:-}")" \
                "$(median "${FB["$p/$n/cpu"]:-}")" "$([ "$p" = rebound ] && median "${FB["$p/$n/self"]:-}" || echo)" \
                "$([ "$p" = rebound ] && median "${FB["$p/$n/clients"]:-}" || echo)" \
                "$([ "$p" = rebound ] && ratio "$l" "$(median "${FB["haproxy/$n/last"]:-}")" || echo)"
        done
    done
    for n in $CONNS; do
        for p in rebound haproxy; do
            [ -z "${FB["$p/$n/note"]:-}" ] || echo "  $p N=$n: ${FB["$p/$n/note"]}"
        done
    done
}

# Ratio columns of the thread-count tables: "PROXY tN/t1" for each proxy and N after the first,
# then "rb/hap tN" for each N.  Prints the header cells or, with TEST THREADS METRIC (RES keys)
# or with a relay metric as "relay METRIC", the values.
thread_ratio_cells() {
    local p t t1 a b
    t1=${PROXY_THREADS%% *}
    for p in haproxy rebound; do
        for t in $PROXY_THREADS; do
            [ "$t" != "$t1" ] || continue
            if [ $# = 0 ]; then
                if [ "$p" = haproxy ]; then printf ' %9s' "hap t$t/t$t1"; else printf ' %9s' "rb t$t/t$t1"; fi
            else
                a=$(thread_cell "$@" "$p-t$t") b=$(thread_cell "$@" "$p-t$t1")
                printf ' %9s' "$(ratio "$a" "$b")"
            fi
        done
    done
    for t in $PROXY_THREADS; do
        if [ $# = 0 ]; then
            printf ' %9s' "r/hap t$t"
        else
            printf ' %9s' "$(ratio "$(thread_cell "$@" "rebound-t$t")" "$(thread_cell "$@" "haproxy-t$t")")"
        fi
    done
}

# Median of one cell: TEST THREADS METRIC VARIANT (threads section) or relay METRIC VARIANT.
thread_cell() {
    if [ "$1" = relay ]; then median "${RL["$3/$2"]:-}"; else med "$1/$2/$4/$3"; fi
}

report_threads() {
    local test threads v metric title
    echo
    echo "threads: the sysbench cases through HAProxy with 'nbthread N' (haproxy-tN) and rebound with 'threads N'"
    echo "(rebound-tN), one process each, all in front of the same servers with the main configuration; median of"
    echo "$REPEAT run(s) of ${TIME} s; CPU = proxy CPU seconds (all threads) per 1,000 queries; ratios tN/t1 per proxy"
    echo "and rebound/HAProxy per thread count."
    [ "$REBOUND_THREADS" = 1 ] || echo "(this rebound binary has no 'threads' keyword: rebound-t1 is its single event loop)"
    for metric in qps p95 cpu; do
        case "$metric" in
        qps) title=QPS ;;
        p95) title="p95 latency (ms)" ;;
        cpu) title="CPU s / 1k queries" ;;
        esac
        printf '\n%-18s %4s |' "$title" thr
        for v in $(variants); do printf ' %10s' "$v"; done
        printf ' |%s\n' "$(thread_ratio_cells)"
        for test in $TESTS; do for threads in $THREADS; do
            printf '%-18s %4s |' "$test" "$threads"
            for v in $(variants); do printf ' %10s' "$(med "$test/$threads/$v/$metric")"; done
            printf ' |%s\n' "$(thread_ratio_cells "$test" "$threads" "$metric")"
        done; done
    done
    echo
    echo "all runs (QPS | p95 ms | proxy CPU s/1k q | other: CPU share used outside this run, noise):"
    all_runs "$TESTS" "$(variants)"
}

# "median (run run ...)" of a relay or failback-reconnect cell.
runs_cell() { echo "$(median "$1") (${1# })"; }

report_relay() {
    local v p t top busy
    echo
    echo "relay: tests/bench/pingpong.c, $RELAY_CONNS connections each with one COM_QUERY 'DO 1' in flight, straight"
    echo "to tests/bench/tinyserver.c (direct) or through each proxy (HAProxy nbthread N, rebound threads N; no checks)."
    echo "tinyserver answers every command with a prebuilt OK, so the proxy, not the database, sets the rate."
    echo "Median of $REPEAT run(s) of ${TIME} s.  rt/s = round trips per second; p50/p99 = one round trip in µs; CPU ="
    echo "proxy CPU ms (all threads) per 1,000 round trips; cores = CPU seconds per second used by the proxy, the"
    echo "backend, the client and everything else on the machine (other: noise from outside the benchmark);"
    echo "busy = the machine's busy share of all $(nproc) CPUs over the run."
    [ "$REBOUND_THREADS" = 1 ] || echo "(this rebound binary has no 'threads' keyword: rebound-t1 is its single event loop)"
    printf '\n%-11s | %-32s | %6s %6s | %7s | %5s %7s %6s %5s | %5s\n' path "rt/s: median (runs)" p50 p99 \
        "CPU/1k" proxy backend client other busy
    for v in direct $(variants); do
        [ -n "${RL["$v/rate"]:-}${RL["$v/fail"]:-}" ] || continue
        printf '%-11s | %-32s | %6s %6s | %7s | %5s %7s %6s %5s | %4s%%%s\n' "$v" "$(runs_cell "${RL["$v/rate"]:-}")" \
            "$(median "${RL["$v/p50"]:-}")" "$(median "${RL["$v/p99"]:-}")" "$(median "${RL["$v/cpu"]:-}")" \
            "$(median "${RL["$v/proxy"]:-}")" "$(median "${RL["$v/backend"]:-}")" "$(median "${RL["$v/client"]:-}")" \
            "$(median "${RL["$v/other"]:-}")" "$(median "${RL["$v/busy"]:-}")" \
            "$([ -z "${RL["$v/fail"]:-}" ] || echo "  (failed runs: $(wc -w <<<"${RL["$v/fail"]}"))")$(errors_note "${RL["$v/errors"]:-}")"
    done
    printf '\n%-11s |%s\n' ratios "$(thread_ratio_cells)"
    printf '%-11s |%s\n' "rt/s" "$(thread_ratio_cells relay rate)"
    printf '%-11s |%s\n' "CPU/1k" "$(thread_ratio_cells relay cpu)"
    # What bounds a thread-count ratio on this machine: the CPU the proxy could get at all.
    top=${PROXY_THREADS##* }
    echo "what limits the ratios here: the client (one thread), the backend (one thread) and the proxy share"
    echo "$(nproc) CPUs, with whatever else runs on the machine.  With $top proxy threads:"
    for p in haproxy rebound; do
        v=$p-t$top
        [ -n "${RL["$v/rate"]:-}" ] || continue
        echo "  $v: proxy $(median "${RL["$v/proxy"]}") cores of the $(awk -v n="$(nproc)" \
            -v b="$(median "${RL["$v/backend"]}")" -v c="$(median "${RL["$v/client"]}")" \
            -v o="$(median "${RL["$v/other"]}")" 'BEGIN { printf "%.2f", n - b - c - o }') the others left it" \
            "(backend $(median "${RL["$v/backend"]}"), client $(median "${RL["$v/client"]}"), other" \
            "$(median "${RL["$v/other"]}")); machine $(median "${RL["$v/busy"]}")% busy"
    done
    busy=$(median "${RL["rebound-t$top/busy"]:-${RL["haproxy-t$top/busy"]:-}}")
    if [ "$busy" != - ] && awk -v b="$busy" 'BEGIN { exit !(b >= 80) }'; then
        echo "  The CPUs were close to saturated, so a further proxy thread mostly competes with the client and"
        echo "  the backend for the same cores: tN/t1 here shows how the CPUs were shared, not how far the proxy"
        echo "  scales.  A target such as >= 1.7x with 2 workers needs the client and the backend on other cores"
        echo "  or hosts than the proxy's."
    else
        echo "  CPU was left idle with $top proxy threads: the proxy, not the machine, set the rate."
    fi
    for t in $PROXY_THREADS; do
        [ "$REBOUND_THREADS" = 1 ] || [ "$t" = 1 ] || echo "  rebound-t$t: not run (no 'threads' keyword in this binary)"
    done
}

# "; N errors" when pingpong counted errors in any run.
errors_note() {
    local s
    s=$(sum "$1")
    [ "$s" = - ] || [ "$s" = 0 ] || echo "  ($s connection errors)"
}

report_reconnect() {
    local n v t
    echo
    echo "failback-reconnect: N idle sessions on a backup through each variant of the threads section, master"
    echo "restarted; every client logs in again as soon as the proxy closes it (holdconns -r: non-blocking"
    echo "Connector/C login and SELECT @@port, all sessions at once from one thread, 2 s connect and read"
    echo "timeout; a reconnect that fails or lands on another server is retried 50 ms later).  ms from the"
    echo "proxy's 'Server rw/master is UP' line: 'reset' = the last client reset seen, 'first' = the first new"
    echo "session on the master, 'all' = all N back on the master; median (every run).  back/opened, 'failed'"
    echo "(failed reconnect attempts), 't/o' (those among them cut by the 2 s timeout) and 'other' (reconnects"
    echo "that landed elsewhere) are sums over the runs.  CPU = proxy ms (all threads) from the master's restart"
    echo "until all were back, 'client' = holdconns' ms over the same stretch (medians).  own/clnt = rebound's"
    echo "'Killed N sessions ... in X ms (clients disconnected in Y ms)' (medians).  r/hap = rebound/HAProxy at"
    echo "the same thread count.  The client, the proxy and both MariaDB servers (thousands of connection"
    echo "threads ending on the backup and starting on the master) share the machine's $(nproc) CPUs."
    [ "$REBOUND_THREADS" = 1 ] || echo "(this rebound binary has no 'threads' keyword: rebound-t1 is its single event loop)"
    printf '%5s %-10s | %-24s | %-24s | %-24s | %-11s | %6s %5s %5s | %7s %6s | %9s | %s\n' N variant "reset ms" \
        "first ms" "all ms" back/opened failed t/o other "CPU ms" client own/clnt "r/hap reset, all"
    for n in $RCONNS; do
        for v in $(variants); do
            [ -n "${RC["$v/$n/opened"]:-}${RC["$v/$n/note"]:-}" ] || continue
            t=${v##*-t}
            printf '%5s %-10s | %-24s | %-24s | %-24s | %-11s | %6s %5s %5s | %7s %6s | %9s | %s\n' "$n" "$v" \
                "$(runs_cell "${RC["$v/$n/reset"]:-}")" "$(runs_cell "${RC["$v/$n/first"]:-}")" \
                "$(runs_cell "${RC["$v/$n/all"]:-}")" \
                "$(sum "${RC["$v/$n/on_master"]:-}")/$(sum "${RC["$v/$n/opened"]:-}")" \
                "$(sum "${RC["$v/$n/reconnect_failed"]:-}")" "$(sum "${RC["$v/$n/reconnect_timeouts"]:-}")" \
                "$(sum "${RC["$v/$n/landed_other"]:-}")" \
                "$(median "${RC["$v/$n/cpu"]:-}")" "$(median "${RC["$v/$n/client"]:-}")" \
                "$([[ $v != rebound-* ]] || echo "$(median "${RC["$v/$n/own"]:-}")/$(median "${RC["$v/$n/clients"]:-}")")" \
                "$([[ $v != rebound-* ]] || echo "$(rc_ratio "$n" "$t" reset), $(rc_ratio "$n" "$t" all)")"
        done
    done
    for n in $RCONNS; do
        for v in $(variants); do
            [ -z "${RC["$v/$n/note"]:-}" ] || echo "  $v N=$n: ${RC["$v/$n/note"]}"
        done
    done
    echo "The kernel's floor (resetfloor, no proxy, no MariaDB, 5 runs before the rounds): one thread resets N"
    echo "idle loopback connections; ms until its last reset / until one peer process on epoll saw the last:"
    for n in $RCONNS; do
        echo "  N=$n: $(runs_cell "${RC["floor/$n/resets"]:-}") / $(runs_cell "${RC["floor/$n/peer"]:-}")"
    done
}

# rebound-tT / haproxy-tT of the medians of failback-reconnect METRIC at N.
rc_ratio() { ratio "$(median "${RC["rebound-t$2/$1/$3"]:-}")" "$(median "${RC["haproxy-t$2/$1/$3"]:-}")"; }

# ---------------------------------------------------------------------------------------------

main() {
    local t0=$SECONDS p est n v maxc=6000 rest
    for p in sysbench haproxy mariadb mariadbd python3 cc pkg-config; do
        command -v "$p" >/dev/null || die "$p not found (make deps)"
    done
    for p in ${SECTIONS//,/ }; do
        [[ ",$ALL_SECTIONS,$EXTRA_SECTIONS," == *",$p,"* ]] ||
            die "BENCH_ONLY: unknown section '$p' (sections: $ALL_SECTIONS,$EXTRA_SECTIONS)"
    done
    for p in $PROXY_THREADS; do
        [[ $p =~ ^[1-9][0-9]?$ ]] || die "BENCH_PROXY_THREADS: '$p' is not a thread count"
    done
    HZ=$(getconf CLK_TCK)
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    # N sessions need ~2N fds in a proxy; children (mariadbd, proxies) inherit this.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    want failback-reconnect && for n in $RCONNS; do ((n + 1000 <= maxc)) || maxc=$((n + 1000)); done
    want tls-failback && for n in $TLS_RCONNS; do ((n + 1000 <= maxc)) || maxc=$((n + 1000)); done
    [ "$(ulimit -n)" -ge $((2 * maxc)) ] || say "bench: warning: ulimit -n is $(ulimit -n); N=$((maxc - 1000)) may fail"

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/rebound-bench.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # Rough seconds per section: sysbench runs, failover rounds (~12 s), failback rounds (~18 s),
    # failback-reconnect rounds (~20 s plus the sequential logins, about 2 ms each).
    local nthr nconn npt
    nthr=$(wc -w <<<"$THREADS") nconn=$(wc -w <<<"$CONNS") npt=$(wc -w <<<"$PROXY_THREADS") est=60
    want sysbench && est=$((est + 6 * nthr * REPEAT * (TIME + 2)))
    want observe && est=$((est + 2 * nthr * REPEAT * (TIME + 2)))
    want threads && est=$((est + 4 * npt * nthr * REPEAT * (TIME + 2)))
    want relay && est=$((est + (1 + 2 * npt) * REPEAT * (TIME + 2) + 10))
    want memory && est=$((est + 20))
    want failover && est=$((est + 4 * REPEAT * 12))
    want failback && est=$((est + 36 * REPEAT * nconn))
    want gtid-guard && est=$((est + 5 * REPEAT * 8))
    if want failback-reconnect; then
        for n in $RCONNS; do est=$((est + 2 * npt * REPEAT * (20 + n / 500))); done
    fi
    want tls-sysbench && est=$((est + 30 + 10 * $(wc -w <<<"$TLS_THREADS") * REPEAT * (TIME + 3)))
    # TLS logins take a few ms each in phase 1 (one after another), more than plain ones.
    if want tls-failback; then
        for n in $TLS_RCONNS; do est=$((est + 4 * REPEAT * (20 + n / 200))); done
    fi
    want failback-graceful && est=$((est + 3 * REPEAT * (25 + (GF_IDLE + GF_BUSY) / 100)))
    say "bench: temp dir $TMP; sections $SECTIONS; estimated duration $((est / 60 + 1)) min"

    build_tool holdconns mariadb
    build_tool connloop mariadb
    build_tool tinyserver
    build_tool pingpong
    build_tool resetfloor
    want failback-graceful && build_tool txnloop mariadb
    probe_rebound_threads

    read -r HA_PORT RB_PORT OBS_OFF_PORT OBS_L7_PORT OBS_STATS_PORT MEM_HA_PORT MEM_RB_PORT FO_HA_PORT \
        FO_RB_PORT TINY_PORT GG_OFF_PORT GG_ON_PORT rest <<<"$(free_ports $((27 + 4 * npt)))"
    for v in $(variants); do
        VPORT[$v]=${rest%% *} rest=${rest#* }
        VPORT[relay-$v]=${rest%% *} rest=${rest#* }
    done
    # The TLS sections' proxies, and the admin ports of their rebound processes.
    for v in tls-term tls-termplain tls-hapass tls-rbpass haproxy-tls rebound-tls tls-term-admin \
        tls-termplain-admin tls-rbpass-admin rebound-tls-admin rebound-graceful rebound-tls-srv \
        rebound-tls-srv-admin rebound-tls-srv-nr rebound-tls-srv-nr-admin; do
        VPORT[$v]=${rest%% *} rest=${rest#* }
    done
    REBOUND_VERSION=$(rebound_version) # before the start: make may replace the binary meanwhile

    if want tls-sysbench || want tls-failback; then tls_setup; fi
    if [ "$SECTIONS" != relay ]; then
        say "bench: starting cluster"
        "$CLUSTER" start "$TMP/c" 2
        # shellcheck disable=SC1091
        . "$TMP/c/cluster.env"
        # 64 sysbench threads on the master; up to 5,000 held sessions on the first backup (and
        # with failback-reconnect up to its largest N on a backup, then on the master, which
        # keeps the setting across its restarts through master.opts).
        for p in master replica1 replica2; do
            root_sql "$p" "SET GLOBAL max_connections = GREATEST(@@max_connections, $maxc)"
        done
        [ "$maxc" = 6000 ] || echo "--max-connections=$maxc" >>"$TMP/c/master.opts"
    fi
    if want sysbench || want failback || want failback-graceful; then
        start_haproxy
        start_rebound
    fi
    if want threads || want failback-reconnect; then start_variants; fi

    if want sysbench || want observe || want threads || want tls-sysbench; then sysbench_prepare; fi
    if want sysbench; then run_sysbench_suite; fi
    if want observe; then run_observe_suite; fi
    if want threads; then run_sysbench_suite "$(running_variants "")" "threads: "; fi
    if want relay; then run_relay_suite; fi
    if want memory; then run_memory_suite; fi
    if want failover; then run_failover_suite; fi
    if want failback; then
        wait_all_up # the failover rounds may have left the main proxies with the master DOWN
        run_failback_suite
    fi
    if want failback-reconnect; then
        wait_all_up
        run_reconnect_suite
    fi
    if want gtid-guard; then
        wait_all_up
        run_gtid_guard_suite
    fi
    if want tls-sysbench; then
        wait_all_up
        run_tls_sysbench_suite
    fi
    if want tls-failback; then
        wait_all_up
        run_tls_failback_suite
    fi
    if want failback-graceful; then
        wait_all_up
        run_graceful_suite
    fi

    if [ -n "$REBOUND_PID" ] && rebound_alive "end of run"; then
        stop_pid "$REBOUND_PID"
        REBOUND_PID=
        [ "$STOP_RC" = 0 ] || REBOUND_PROBLEMS+=("rebound exited with status $STOP_RC on SIGTERM (expected 0)")
    fi
    stop_variants ""
    report
    say "bench: done in $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s"
}

main "$@"
