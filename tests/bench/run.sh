#!/usr/bin/env bash
# Side-by-side benchmark of rebound against HAProxy 2.6 and a direct connection (`make bench`).
#
# One run, one machine, one throw-away MariaDB cluster (master + 2 replicas, scripts/cluster.sh):
#   1. sysbench oltp_point_select and oltp_read_only at 8 and 64 threads, direct to the master,
#      through HAProxy (mode tcp) and through rebound; QPS, p95 latency and the proxy's CPU
#      seconds per 1,000 queries (utime+stime from /proc/PID/stat).  Median of BENCH_REPEAT runs.
#   2. Failback: N idle sessions opened through a proxy while the master is down (so they sit on
#      a backup), master started again; time from the proxy's "Server rw/master is UP" log line
#      to the moment the last of the N sessions is seen closed (tests/bench/holdconns.c); also
#      repeated BENCH_REPEAT times.
# Prints a report on stdout (progress on stderr).
#
# Environment:
#   BENCH_QUICK=1       smoke test: 3 s runs, 1 repeat, N=100 only (other BENCH_* still apply)
#   BENCH_REPEAT=3      runs per sysbench cell and per failback case (medians reported)
#   BENCH_TIME=10       seconds per sysbench run
#   BENCH_THREADS="8 64"
#   BENCH_CONNS="100 1000 5000"   failback session counts
#   REBOUND_BIN=build/rebound     router binary (rebound columns show n/a if it is missing)
#   BENCH_KEEP=1        keep the temp dir (configs, logs) instead of deleting it
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER="$ROOT/scripts/cluster.sh"
REBOUND_BIN=${REBOUND_BIN:-$ROOT/build/rebound}
CMDLINE="$0 $*"

# Defaults; BENCH_QUICK=1 shortens them, explicit BENCH_* variables still win.
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_repeat=1 d_time=3 d_conns="100"
else
    d_repeat=3 d_time=10 d_conns="100 1000 5000"
fi
REPEAT=${BENCH_REPEAT:-$d_repeat} TIME=${BENCH_TIME:-$d_time} CONNS=${BENCH_CONNS:-$d_conns}
THREADS=${BENCH_THREADS:-"8 64"}
TESTS="oltp_point_select oltp_read_only"
PATHS="direct haproxy rebound"
TABLES=4 TABLE_SIZE=10000

TMP='' HAPROXY_PID='' REBOUND_PID='' HOLD_PID=''
REBOUND_OK=0          # 1 while rebound is expected to be running and healthy
REBOUND_PROBLEMS=()   # symptoms seen (crash, bad exit status, ...), printed in the report
declare -A RES        # "test/threads/path/metric" -> space-separated values, one per run
declare -A FB         # "proxy/N/metric" -> value, failback results

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
    [ -n "$HOLD_PID" ] && stop_pid "$HOLD_PID"
    [ -n "$HAPROXY_PID" ] && stop_pid "$HAPROXY_PID"
    [ -n "$REBOUND_PID" ] && stop_pid "$REBOUND_PID"
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

# ---------------------------------------------------------------------------------------------
# Setup.

write_haproxy_cfg() {
    # Same servers, same check timing as rebound.  mysql-check cannot send a password, hence
    # rebound_nopw.  Logs go to stdout (a file) in RFC 5424 format for the microsecond timestamp
    # of "Server rw/master is UP"; the level cap `notice` drops the per-connection info lines, so
    # logging costs HAProxy nothing measurable during sysbench or a kill storm.
    cat >"$TMP/haproxy.cfg" <<EOF
global
    maxconn 9000
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
    bind 127.0.0.1:$HA_PORT
    option mysql-check user rebound_nopw post-41
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}

write_rebound_cfg() {
    cat >"$TMP/rebound.conf" <<EOF
global
    maxconn 9000
    health-log file $TMP/health.log
defaults
    check mysql user rebound_check password "check-pass"
    inter 2s  fastinter 500ms  downinter 5s  rise 2  fall 3
    timeout connect 2s  timeout client 8h  timeout server 8h  timeout check 1s
    retries 2
listen rw
    bind 127.0.0.1:$RB_PORT
    server master   127.0.0.1:$MASTER_PORT check on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions
    server replica1 127.0.0.1:$REPLICA1_PORT check backup
    server replica2 127.0.0.1:$REPLICA2_PORT check backup
EOF
}

start_haproxy() {
    local p
    write_haproxy_cfg
    haproxy -c -q -f "$TMP/haproxy.cfg" || die "haproxy rejected $TMP/haproxy.cfg"
    haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>"$TMP/haproxy.err" </dev/null &
    HAPROXY_PID=$!
    p=$(wait_login "$HA_PORT") || die "no login through haproxy: $(tail -n 5 "$TMP/haproxy.err")"
    [ "$p" = "$MASTER_PORT" ] || die "haproxy routed to port $p, not the master"
    say "bench: haproxy pid $HAPROXY_PID on :$HA_PORT"
}

start_rebound() {
    local p
    write_rebound_cfg
    if [ ! -x "$REBOUND_BIN" ]; then
        REBOUND_PROBLEMS+=("$REBOUND_BIN not found: rebound columns are n/a (run make first)")
        say "bench: ${REBOUND_PROBLEMS[-1]}"
        return 0
    fi
    if ! "$REBOUND_BIN" -c -f "$TMP/rebound.conf" >"$TMP/rebound-check.out" 2>&1; then
        REBOUND_PROBLEMS+=("rebound -c rejected the config: $(head -n 3 "$TMP/rebound-check.out" | tr '\n' '|')")
        say "bench: ${REBOUND_PROBLEMS[-1]}"
        return 0
    fi
    "$REBOUND_BIN" -f "$TMP/rebound.conf" 2>"$TMP/rebound.err" </dev/null &
    REBOUND_PID=$! REBOUND_OK=1
    if ! p=$(wait_login "$RB_PORT"); then
        rebound_alive "start-up" || true
        REBOUND_PROBLEMS+=("no login through rebound within 15 s: $(tail -n 3 "$TMP/rebound.err" | tr '\n' '|')")
        say "bench: ${REBOUND_PROBLEMS[-1]}"
        [ -n "$REBOUND_PID" ] && stop_pid "$REBOUND_PID"
        REBOUND_OK=0 REBOUND_PID=
        return 0
    fi
    [ "$p" = "$MASTER_PORT" ] || REBOUND_PROBLEMS+=("rebound routed a new session to port $p, not the master")
    say "bench: rebound pid $REBOUND_PID on :$RB_PORT"
}

# ---------------------------------------------------------------------------------------------
# sysbench.

sb_args() {
    echo --db-driver=mysql --mysql-host=127.0.0.1 --mysql-user=app --mysql-password=app-pass \
        --mysql-db=appdb --tables=$TABLES --table-size=$TABLE_SIZE
}

# One sysbench run; prints "QPS P95_MS QUERIES SYSBENCH_CPU_S".  The proxy's CPU is read by the
# caller; sysbench's own CPU comes from `times` (children of the command substitution's shell).
run_sysbench() {
    local test=$1 threads=$2 port=$3 out
    # shellcheck disable=SC2046
    if ! out=$(timeout $((TIME + 60)) sysbench "$test" $(sb_args) --mysql-port="$port" \
        --threads="$threads" --time="$TIME" --percentile=95 --report-interval=0 run 2>&1 &&
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
# sysbench), a rough indicator of noise from whatever else runs on the box.
bench_cell() {
    local test=$1 threads=$2 path=$3 port pid='' c0='' c1='' m0 m1 b0 b1 t0 r qps p95 q sbcpu cpu
    case "$path" in
    direct) port=$MASTER_PORT ;;
    haproxy) port=$HA_PORT pid=$HAPROXY_PID ;;
    rebound)
        rebound_alive "before sysbench $test $threads" || return 0
        port=$RB_PORT pid=$REBOUND_PID
        ;;
    esac
    [ -n "$pid" ] && c0=$(cpu_ticks "$pid")
    m0=$(cpu_ticks "$MASTER_PID") b0=$(machine_busy) t0=$(date +%s.%N)
    if ! r=$(run_sysbench "$test" "$threads" "$port"); then
        add "$test/$threads/$path/fail" 1
        [ "$path" = rebound ] && rebound_alive "sysbench $test $threads threads"
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
    say "bench:   $test $threads thr $path: $qps qps, p95 $p95 ms${cpu:+, cpu $cpu s/1k q}"
    [ "$path" = rebound ] && { rebound_alive "sysbench $test $threads threads" || true; }
    return 0
}

run_sysbench_suite() {
    local rep test threads i path order
    say "bench: sysbench prepare ($TABLES tables x $TABLE_SIZE rows) on the master"
    # shellcheck disable=SC2046
    timeout 300 sysbench oltp_read_only $(sb_args) --mysql-port="$MASTER_PORT" --threads=4 prepare \
        >"$TMP/prepare.log" 2>&1 || die "sysbench prepare failed: $(tail -n 3 "$TMP/prepare.log")"
    # Warm the buffer pool so the first measured run is not penalised.
    # shellcheck disable=SC2046
    timeout 60 sysbench oltp_read_only $(sb_args) --mysql-port="$MASTER_PORT" --threads=4 --time=2 \
        run >/dev/null 2>&1 || true
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for test in $TESTS; do
            for threads in $THREADS; do
                # Rotate the path order each repeat so slow drift on a noisy machine does not
                # always favour the same path.
                read -r -a order <<<"$PATHS"
                for ((i = 0; i < (rep - 1) % 3; i++)); do order=("${order[@]:1}" "${order[0]}"); done
                say "bench: run $rep/$REPEAT $test $threads threads (${order[*]})"
                for path in "${order[@]}"; do bench_cell "$test" "$threads" "$path"; done
            done
        done
    done
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

# Last "Server rw/master is UP|DOWN" state of a proxy's log: UP, DOWN, or UP when none yet.
master_state() {
    local last
    last=$(grep -E 'Server rw/master is (UP|DOWN)' "$1" 2>/dev/null | tail -n 1 || true)
    case "$last" in *"is DOWN"*) echo DOWN ;; *) echo UP ;; esac
}

# After the master's restart, wait (bounded) until every running proxy routes to it again, so
# the next measurement starts clean.  A proxy that never marked it DOWN (it was down only for a
# few seconds) is already fine.
wait_all_up() {
    local i
    for ((i = 0; i < 400; i++)); do
        if [ "$(master_state "$TMP/haproxy.log")" = UP ] &&
            { [ "$REBOUND_OK" != 1 ] || [ "$(master_state "$TMP/health.log")" = UP ]; }; then
            return 0
        fi
        sleep 0.1
    done
    say "bench: warning: a proxy still has the master DOWN 40 s after its restart"
    if [ "$REBOUND_OK" = 1 ] && [ "$(master_state "$TMP/health.log")" != UP ]; then
        REBOUND_PROBLEMS+=("rebound still had rw/master DOWN 40 s after the master's restart")
    fi
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
        "$CLUSTER" start-one "$TMP/c" master
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
    "$CLUSTER" start-one "$TMP/c" master
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
        # rebound's own account: "Killed 1342 sessions on backup servers of rw after ... in 4 ms."
        kill_line=$(tail -n +$((off + 1)) "$TMP/health.log" | grep -m1 'Killed .* sessions on backup servers' || true)
        fb_add "rebound/$n/self" "$(sed -n 's/.*Killed [0-9]* sessions.* in \([0-9.]*\) ms.*/\1/p' <<<"$kill_line")"
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
    local test threads path q f h r d
    set +e # a missing figure must not cut the report short
    echo "rebound benchmark — $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "command: $CMDLINE (BENCH_QUICK=${BENCH_QUICK:-0} REPEAT=$REPEAT TIME=${TIME}s THREADS='$THREADS' CONNS='$CONNS')"
    echo "machine: $(nproc) CPUs, $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo); load avg at start: $LOAD0, at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "versions: $(mariadbd --version 2>/dev/null | awk '{ print $3 }') | $(haproxy -v | head -n1 | awk '{ print "HAProxy", $3 }') | $(sysbench --version) | rebound $REBOUND_VERSION"
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
    for test in $TESTS; do for threads in $THREADS; do for path in $PATHS; do
        q=${RES["$test/$threads/$path/qps"]:-} f=${RES["$test/$threads/$path/fail"]:-}
        [ -n "$q$f" ] || continue
        printf '  %-18s %3s %-8s%s |%s |%s |%s%s\n' "$test" "$threads" "$path" "$q" \
            "${RES["$test/$threads/$path/p95"]:-}" "${RES["$test/$threads/$path/cpu"]:- -}" \
            "${RES["$test/$threads/$path/other"]:-}" "${f:+  (failed runs: $(wc -w <<<"$f"))}"
    done; done; done
    echo
    echo "failback: N idle sessions on a backup, master restarted; 'last' = ms from the proxy's 'Server rw/master"
    echo "is UP' log line to the last session seen closed by the client (median, then every run), 'first' = same"
    echo "for the first close (median); closed/opened summed over runs; CPU = proxy CPU ms (all threads) from the"
    echo "master's restart to the last close (median); 'own' = the ms rebound logs in its 'Killed N sessions' line."
    printf '%6s %-8s | %-32s | %7s | %-13s | %7s | %5s | %s\n' N proxy "last ms: median (runs)" "first" "closed/opened" "CPU ms" own "r/hap"
    local n p l lv
    for n in $CONNS; do
        for p in rebound haproxy; do
            lv=${FB["$p/$n/last"]:-} l=$(median "$lv")
            printf '%6s %-8s | %-32s | %7s | %-13s | %7s | %5s | %s\n' "$n" "$p" \
                "$l (${lv# })" "$(median "${FB["$p/$n/first"]:-}")" \
                "$(sum "${FB["$p/$n/closed"]:-}")/$(sum "${FB["$p/$n/opened"]:-}")" \
                "$(median "${FB["$p/$n/cpu"]:-}")" "$([ "$p" = rebound ] && median "${FB["$p/$n/self"]:-}" || echo)" \
                "$([ "$p" = rebound ] && ratio "$l" "$(median "${FB["haproxy/$n/last"]:-}")" || echo)"
        done
    done
    for n in $CONNS; do
        for p in rebound haproxy; do
            [ -z "${FB["$p/$n/note"]:-}" ] || echo "  $p N=$n: ${FB["$p/$n/note"]}"
        done
    done
    echo "  (master :$MASTER_PORT, replica1 :$REPLICA1_PORT, replica2 :$REPLICA2_PORT)"
    if [ ${#REBOUND_PROBLEMS[@]} -gt 0 ]; then
        echo
        echo "rebound problems seen:"
        printf '  - %s\n' "${REBOUND_PROBLEMS[@]}"
    fi
}

# ---------------------------------------------------------------------------------------------

main() {
    local t0=$SECONDS p rc
    for p in sysbench haproxy mariadb mariadbd python3 cc pkg-config; do
        command -v "$p" >/dev/null || die "$p not found (make deps)"
    done
    HZ=$(getconf CLK_TCK)
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    # 5,000 sessions need ~10,000 fds in a proxy; children (mariadbd, proxies) inherit this.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    [ "$(ulimit -n)" -ge 12000 ] || say "bench: warning: ulimit -n is $(ulimit -n); N=5000 may fail"

    TMP=$(mktemp -d "${TMPDIR:-/tmp}/rebound-bench.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    say "bench: temp dir $TMP; estimated duration $(((6 * $(wc -w <<<"$THREADS") * REPEAT * (TIME + 2) + 36 * REPEAT * $(wc -w <<<"$CONNS") + 60) / 60 + 1)) min"

    # shellcheck disable=SC2046 # pkg-config output is meant to be split into words
    cc -O2 -Wall -Wextra -o "$TMP/holdconns" "$ROOT/tests/bench/holdconns.c" \
        $(pkg-config --cflags --libs libmariadb) || die "cannot build holdconns"

    say "bench: starting cluster"
    "$CLUSTER" start "$TMP/c" 2
    # shellcheck disable=SC1091
    . "$TMP/c/cluster.env"
    # 64 sysbench threads on the master; up to 5,000 held sessions on the first backup.
    for p in master replica1 replica2; do
        root_sql "$p" "SET GLOBAL max_connections = GREATEST(@@max_connections, 6000)"
    done
    read -r HA_PORT RB_PORT <<<"$(free_ports 2)"
    start_haproxy
    REBOUND_VERSION=$(rebound_version) # before the start: make may replace the binary meanwhile
    start_rebound

    run_sysbench_suite
    run_failback_suite

    if [ -n "$REBOUND_PID" ] && rebound_alive "end of run"; then
        stop_pid "$REBOUND_PID"
        REBOUND_PID=
        [ "$STOP_RC" = 0 ] || REBOUND_PROBLEMS+=("rebound exited with status $STOP_RC on SIGTERM (expected 0)")
    fi
    report
    say "bench: done in $(((SECONDS - t0) / 60)) min $(((SECONDS - t0) % 60)) s"
}

main "$@"
