#!/usr/bin/env bash
# Proves docker/, conf/rebound.service and conf/rebound.logrotate right on a machine where no
# container can run (`make check-docker`). Each step stands in for a part of
# `docker compose -f docker/docker-compose.yml up`:
#
#  1. The compose file: `docker-compose config -q` (Compose v1, Debian's docker-compose);
#     then files.py checks that the Dockerfile, the compose file and docker/rebound.conf agree
#     (ports, mounts, health checks, depends_on conditions, runtime packages = the binary's
#     libraries). docker/prometheus.yml: `promtool check config`. The scripts: shellcheck.
#  2. The image's build step: docker/build.sh, the script the Dockerfile's build stage runs,
#     here into a temporary DESTDIR, and the files it installs.
#  3. `rebound -c -f docker/rebound.conf`, the file unchanged. Its servers are the compose
#     services `master` and `replica`, and host names are resolved when the file is loaded,
#     so they must resolve here too: nss_wrapper (LD_PRELOAD) maps them to 127.0.0.1 from a
#     hosts file of our own, for this process only, as the compose network's DNS would -
#     no root, no change to /etc/hosts, no edited copy of the file.
#  4. The databases: two real mariadbd, started with the compose file's `command:` options
#     and initialised the way the mariadb image does it (a temporary server without
#     networking, the root password, then docker/initdb/SERVICE/* in order with the compose
#     file's environment, then the real server). MASTER_HOST=127.0.0.1 and MASTER_PORT stand
#     in for the service name; INITDB_SOCKET for the image's default socket. The replica
#     must replicate the master's accounts and a write, also after its restart.
#  5. rebound as in the container: the installed binary with docker/rebound.conf (only its
#     ports moved to free loopback ports; names mapped as in 3) in front of them. The image's
#     health check must pass (and `--ready` fail while a listener has no usable server, and
#     both fail once rebound is gone); rw must reach the master and ro the replica; the
#     admin port must answer; conf/rebound.logrotate must rotate the health log, rebound
#     reopening it on SIGHUP.
#  6. conf/rebound.service: `systemd-analyze verify` against the installed binary, when
#     systemd-analyze works on this machine (skipped with a note otherwise).
#
# Every wait is bounded, every process started here is stopped by its pid, and the
# temporary directory is removed on exit (KEEP=1 keeps it for a post-mortem).
set -euo pipefail
cd "$(dirname "$0")/../.."

START_TIMEOUT=60 # seconds for a mariadbd or rebound to come up
STOP_TIMEOUT=30  # seconds for one to exit after SIGTERM
REPL_TIMEOUT=60  # seconds for replication to run / catch up

tmp=$(mktemp -d /tmp/rebound-docker.XXXXXX)
declare -A PIDS=() # name -> pid of what this script started

say() { echo "check-docker: $*"; }
pass() { say "ok: $*"; }
# Also from inside wait_for's polled commands, whose own output is discarded: fd 3.
exec 3>&2
die() {
    echo "check-docker: FAIL: $*" >&3
    exit 1
}

# SIGTERM the process NAME started here, wait (bounded), SIGKILL if it ignores it.
stop() {
    local name=$1 pid=${PIDS[$1]:-} deadline
    [ -n "$pid" ] || return 0
    unset "PIDS[$name]"
    kill -TERM "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "check-docker: $name (pid $pid) ignored SIGTERM, SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? name
    for name in "${!PIDS[@]}"; do stop "$name"; done
    if [ $rc -ne 0 ]; then
        for f in "$tmp"/*.err "$tmp"/rebound.log; do
            [ -s "$f" ] && { echo "--- $f (last lines)" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "check-docker: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Poll CMD... until it succeeds, at most LIMIT seconds; WHAT names it in the failure.
wait_for() {
    local limit=$1 what=$2 deadline
    shift 2
    deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || die "$what: not within ${limit}s"
        sleep 0.2
    done
}

# ---------------------------------------------------------------------------------------
# 1. Compose file, Dockerfile, Prometheus config, scripts.
# ---------------------------------------------------------------------------------------
docker-compose -f docker/docker-compose.yml config -q || die "docker-compose config -q rejects docker/docker-compose.yml"
docker-compose -f docker/docker-compose.yml config >"$tmp/compose.yml" 2>"$tmp/compose.err" ||
    die "docker-compose config: $(cat "$tmp/compose.err")"
pass "docker-compose config -q accepts docker/docker-compose.yml"
promtool check config docker/prometheus.yml >"$tmp/promtool.out" 2>&1 ||
    die "promtool check config docker/prometheus.yml: $(cat "$tmp/promtool.out")"
pass "promtool check config accepts docker/prometheus.yml"
shellcheck docker/*.sh docker/initdb/*/*.sh scripts/*.sh tests/docker/check.sh tests/docs/check.sh ||
    die "shellcheck (above)"
pass "shellcheck: docker/ scripts and the checks"

# ---------------------------------------------------------------------------------------
# 2. The image's build step, on the host.
# ---------------------------------------------------------------------------------------
DEST=$tmp/out
# A clean environment: what a `make check-asan` sets for its sub-make must not leak into
# the build the Dockerfile would do.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u BUILD -u CFLAGS -u LDFLAGS \
    docker/build.sh "$DEST" >"$tmp/build.log" 2>&1 || {
    tail -n 30 "$tmp/build.log" >&2
    die "docker/build.sh failed"
}
for f in usr/sbin/rebound etc/rebound/rebound.conf usr/share/man/man8/rebound.8 \
    usr/share/man/man5/rebound.conf.5 usr/share/doc/rebound/examples/rebound.service \
    usr/share/doc/rebound/examples/rebound.logrotate usr/share/doc/rebound/examples/rebound.conf \
    usr/share/doc/rebound/README.md; do
    [ -f "$DEST/$f" ] || die "docker/build.sh did not install /$f"
done
[ -x "$DEST/usr/sbin/rebound" ] || die "/usr/sbin/rebound is not executable"
"$DEST/usr/sbin/rebound" -v >"$tmp/version" || die "the installed rebound -v fails"
pass "docker/build.sh installs $(head -n 1 "$tmp/version") and its files under DESTDIR"

python3 tests/docker/files.py "$tmp/compose.yml" "$DEST" "$tmp" ||
    die "Dockerfile, compose file and rebound.conf disagree (above)"
pass "Dockerfile, compose file and rebound.conf agree; runtime packages = the binary's libraries"

# ---------------------------------------------------------------------------------------
# 3. rebound -c on the compose config, service names mapped by nss_wrapper.
# ---------------------------------------------------------------------------------------
NSS_WRAPPER_LIB=libnss_wrapper.so
printf '127.0.0.1 master\n127.0.0.1 replica\n127.0.0.1 rebound\n' >"$tmp/hosts"
# Run CMD... with the compose service names resolving to 127.0.0.1.
with_compose_names() {
    LD_PRELOAD=$NSS_WRAPPER_LIB NSS_WRAPPER_HOSTS=$tmp/hosts "$@"
}
if "$DEST/usr/sbin/rebound" -c -f docker/rebound.conf >/dev/null 2>&1; then
    say "note: 'master' and 'replica' resolve on this machine without the mapping"
fi
out=$(with_compose_names "$DEST/usr/sbin/rebound" -c -f docker/rebound.conf 2>&1) ||
    die "rebound -c -f docker/rebound.conf: $out"
pass "rebound -c -f docker/rebound.conf: $out"

# ---------------------------------------------------------------------------------------
# 4. The databases, initialised as the mariadb image does.
# ---------------------------------------------------------------------------------------
read -r PORT_MASTER PORT_REPLICA RW_PORT RO_PORT ADMIN_PORT STATS_PORT <<<"$(scripts/free-ports 6)"
[ -n "$STATS_PORT" ] || die "cannot find 6 free ports on 127.0.0.1"
declare -A PORT=([master]=$PORT_MASTER [replica]=$PORT_REPLICA)
USER_OPT=()
if [ "$(id -u)" = 0 ]; then USER_OPT=(--user=root); fi

# KEY=VALUE lines of the compose file's environment for SERVICE, one per line.
compose_env() { cat "$tmp/$1.env"; }
env_of() { compose_env "$1" | sed -n "s/^$2=//p"; }

# mariadb-install-db as the image runs it, once; each instance gets a copy.
mariadb-install-db --no-defaults "${USER_OPT[@]}" --datadir="$tmp/template" \
    --auth-root-authentication-method=normal --skip-test-db --skip-log-bin \
    --skip-name-resolve --innodb-buffer-pool-size=32M --innodb-log-file-size=8M \
    >"$tmp/install-db.log" 2>&1 || {
    cat "$tmp/install-db.log" >&2
    die "mariadb-install-db failed"
}

# SQL as root on SERVICE over its socket, with the compose file's root password.
root_sql() {
    local name=$1
    shift
    MYSQL_PWD=$(env_of "$name" MARIADB_ROOT_PASSWORD) mariadb --no-defaults -uroot \
        --socket="$tmp/$name.sock" "$@"
}
# Does SERVICE accept root: without a password before the initialisation set one, with it
# after? Fails the whole check at once if its mariadbd has exited.
root_login() {
    kill -0 "${PIDS[$1]}" 2>/dev/null || die "$1 (mariadbd) exited, see $tmp/$1.err"
    mariadb --no-defaults -uroot --socket="$tmp/$1.sock" -e 'SELECT 1' 2>/dev/null ||
        root_sql "$1" -e 'SELECT 1'
}

# The image's sequence for SERVICE: temporary server, root password, initdb scripts, restart.
init_like_image() {
    local name=$1 f
    cp -a "$tmp/template" "$tmp/$name"
    launch "$name" --skip-networking
    # docker_setup_db: root's password, not written to the binary log.
    mariadb --no-defaults -uroot --socket="$tmp/$name.sock" <<SQL
SET @@SESSION.SQL_LOG_BIN=0;
DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$(env_of "$name" MARIADB_ROOT_PASSWORD)');
SQL
    # docker_process_init_files: sorted; executable .sh run, others sourced, .sql piped.
    for f in "docker/initdb/$name"/*; do
        case "$f" in
        *.sh)
            [ -x "$f" ] || die "$f is not executable: the image would source it instead"
            (
                while IFS='=' read -r k v; do export "$k=$v"; done < <(compose_env "$name")
                export INITDB_SOCKET=$tmp/$name.sock MASTER_HOST=127.0.0.1
                export MASTER_PORT=$PORT_MASTER MASTER_WAIT=$REPL_TIMEOUT
                "$f"
            ) >>"$tmp/$name.init.log" 2>&1 || {
                cat "$tmp/$name.init.log" >&2
                die "$f failed on the $name"
            }
            ;;
        *.sql) root_sql "$name" <"$f" || die "$f failed on the $name" ;;
        *) die "$f: the image would ignore it (not .sh or .sql)" ;;
        esac
    done
    stop "$name"
    launch "$name"
}
# Start mariadbd for SERVICE with the compose file's command options, and EXTRA... (the
# initialisation's temporary server runs with --skip-networking); wait until root logs in,
# without a password before the initialisation has set one, with it after.
launch() {
    local name=$1 opts line
    shift
    opts=(--no-defaults "${USER_OPT[@]}" --datadir="$tmp/$name" --socket="$tmp/$name.sock"
        --port="${PORT[$name]}" --bind-address=127.0.0.1 --skip-name-resolve
        --pid-file="$tmp/$name.pid" --log-error="$tmp/$name.err" --innodb-buffer-pool-size=32M
        --innodb-log-file-size=8M --innodb-flush-log-at-trx-commit=2 --sync-binlog=0
        --performance-schema=OFF)
    while IFS= read -r line; do opts+=("$line"); done <"$tmp/$name.cmd"
    setsid mariadbd "${opts[@]}" "$@" </dev/null >>"$tmp/$name.err" 2>&1 &
    PIDS[$name]=$!
    wait_for "$START_TIMEOUT" "$name accepting a root login" root_login "$name"
}

init_like_image master
pass "master: mariadbd with the compose options, initialised by docker/initdb/master"
init_like_image replica
pass "replica: initialised by docker/initdb/replica, replicating from the master"

APP_USER=app
APP_PASSWORD=$(env_of master APP_PASSWORD)
APP_DB=appdb
# SQL as the application over TCP on PORT.
app_sql() {
    local port=$1
    shift
    MYSQL_PWD=$APP_PASSWORD mariadb --no-defaults --connect-timeout=5 --protocol=tcp \
        -h127.0.0.1 -P"$port" -u"$APP_USER" -N -B "$APP_DB" "$@"
}
repl_running() {
    local st
    st=$(root_sql replica -e 'SHOW SLAVE STATUS\G') &&
        grep -q 'Slave_IO_Running: Yes' <<<"$st" && grep -q 'Slave_SQL_Running: Yes' <<<"$st"
}
# Wait until the replica has applied everything the master has now.
caught_up() {
    local pos res
    pos=$(root_sql master -N -B -e 'SELECT @@global.gtid_binlog_pos')
    res=$(root_sql replica -N -B -e "SELECT MASTER_GTID_WAIT('$pos', $REPL_TIMEOUT)")
    [ "$res" = 0 ] || die "the replica did not reach the master's GTID $pos in ${REPL_TIMEOUT}s"
}

wait_for "$REPL_TIMEOUT" "replication running on the replica after its restart" repl_running
app_sql "$PORT_MASTER" -e "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(32));
    INSERT INTO t VALUES (1, 'written on the master')" || die "app cannot write on the master"
caught_up
got=$(app_sql "$PORT_REPLICA" -e 'SELECT v FROM t WHERE id = 1') || die "app cannot read on the replica"
[ "$got" = "written on the master" ] || die "the replica has '$got' instead of the master's row"
[ "$(root_sql replica -N -B -e 'SELECT @@global.read_only')" = 1 ] || die "the replica is writable"
pass "replication: the master's accounts and a write reached the replica (read-only)"

# ---------------------------------------------------------------------------------------
# 5. rebound in front of them, as in its container.
# ---------------------------------------------------------------------------------------
mkdir -p "$tmp/log"
# docker/rebound.conf with only its ports moved (each substitution must match exactly once
# or as often as the file names the server) and a health log file for the logrotate test.
python3 - docker/rebound.conf "$tmp/rebound.conf" <<EOF || die "docker/rebound.conf changed shape: update tests/docker/check.sh"
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
subs = [
    (r"bind 0\.0\.0\.0:3306\b", "bind 127.0.0.1:$RW_PORT", 1),
    (r"bind 0\.0\.0\.0:3307\b", "bind 127.0.0.1:$RO_PORT", 1),
    (r"admin 0\.0\.0\.0:6032\b", "admin 127.0.0.1:$ADMIN_PORT", 1),
    (r"stats 0\.0\.0\.0:8404\b", "stats 127.0.0.1:$STATS_PORT", 1),
    (r"\bmaster:3306\b", "master:$PORT_MASTER", 2),
    (r"\breplica:3306\b", "replica:$PORT_REPLICA", 2),
    (r"(?m)^(\s*)health-log stderr$", r"\g<0>\n\1health-log file $tmp/log/health.log", 1),
]
for pat, rep, count in subs:
    text, n = re.subn(pat, rep, text)
    if n != count:
        sys.exit(f"{pat}: {n} matches, expected {count}")
open(sys.argv[2], "w", encoding="utf-8").write(text)
EOF
ADMIN_PASSWORD=$(sed -n 's/^ *admin [^ ]* user admin password "\([^"]*\)".*/\1/p' docker/rebound.conf)
[ -n "$ADMIN_PASSWORD" ] || die "no 'admin ... user admin password \"...\"' line in docker/rebound.conf"

LD_PRELOAD=$NSS_WRAPPER_LIB NSS_WRAPPER_HOSTS=$tmp/hosts \
    setsid "$DEST/usr/sbin/rebound" -f "$tmp/rebound.conf" </dev/null >"$tmp/rebound.log" 2>&1 &
PIDS[rebound]=$!
REBOUND_PID=${PIDS[rebound]}

healthcheck() { REBOUND_STATS_PORT=$STATS_PORT docker/healthcheck.sh "$@"; }
admin_sql() {
    MYSQL_PWD=$ADMIN_PASSWORD mariadb --no-defaults --connect-timeout=5 --protocol=tcp \
        -h127.0.0.1 -P"$ADMIN_PORT" -uadmin -N -B -e "$1"
}
# All four servers (rw and ro, master and replica) passed a MySQL check with its expectations.
all_l7ok() {
    [ "$(admin_sql "SELECT count(*) FROM servers WHERE state = 'UP' AND check_status = 'L7OK'")" = 4 ]
}

wait_for "$START_TIMEOUT" "the image's health check passing" healthcheck
wait_for "$START_TIMEOUT" "every server UP with L7OK (check user, read-only and max-lag expectations)" all_l7ok
healthcheck --ready >/dev/null || die "healthcheck --ready fails with every server up"
pass "docker/healthcheck.sh passes against the running rebound; all servers L7OK"

[ "$(app_sql "$RW_PORT" -e 'SELECT @@server_id')" = 1 ] || die "rw does not reach the master"
[ "$(app_sql "$RO_PORT" -e 'SELECT @@server_id')" = 2 ] || die "ro does not reach the replica"
app_sql "$RW_PORT" -e "INSERT INTO t VALUES (2, 'written through rebound')" || die "no write through rw"
caught_up
[ "$(app_sql "$RO_PORT" -e 'SELECT v FROM t WHERE id = 2')" = "written through rebound" ] ||
    die "the write through rw is not readable through ro"
pass "through rebound: rw reaches the master, ro the replica, and a write made it across"

admin_sql "UPDATE servers SET admin_state = 'maint' WHERE listener = 'rw'" || die "admin UPDATE failed"
if out=$(healthcheck --ready); then die "healthcheck --ready passes while rw has no usable server"; fi
grep -q 'rw' <<<"$out" || die "healthcheck --ready does not name the listener: $out"
healthcheck >/dev/null || die "liveness fails while rebound runs (only rw is empty)"
admin_sql "UPDATE servers SET admin_state = 'ready' WHERE listener = 'rw'" || die "admin UPDATE failed"
wait_for "$START_TIMEOUT" "rw back after maintenance" healthcheck --ready
pass "healthcheck --ready fails while a listener has no usable server ($out)"

# logrotate, with the unit's signal replaced by a plain kill of this rebound.
[ -s "$tmp/log/health.log" ] || die "rebound wrote no health log to $tmp/log/health.log"
sed -e "s|/var/log/rebound/\*\.log|$tmp/log/*.log|" \
    -e "s|systemctl kill --kill-whom=main --signal=HUP rebound.service|kill -HUP $REBOUND_PID|" \
    conf/rebound.logrotate >"$tmp/logrotate.conf"
grep -q "kill -HUP $REBOUND_PID" "$tmp/logrotate.conf" || die "conf/rebound.logrotate: no postrotate signal found"
logrotate -f -s "$tmp/logrotate.state" "$tmp/logrotate.conf" >"$tmp/logrotate.out" 2>&1 ||
    die "logrotate: $(cat "$tmp/logrotate.out")"
[ -s "$tmp/log/health.log.1" ] || die "logrotate did not rotate health.log"
wait_for 60 "rebound reopening health.log after SIGHUP" test -e "$tmp/log/health.log"
admin_sql "UPDATE servers SET admin_state = 'drain' WHERE listener = 'ro' AND name = 'replica'"
wait_for 60 "the admin change in the new health.log" \
    grep -q 'admin state changed from ready to drain' "$tmp/log/health.log"
! grep -q 'from ready to drain' "$tmp/log/health.log.1" || die "a line went to the rotated file"
kill -0 "$REBOUND_PID" || die "rebound died on SIGHUP"
pass "conf/rebound.logrotate rotates the health log; rebound reopens it on SIGHUP"

stop rebound
if healthcheck >/dev/null; then die "the health check passes with rebound stopped"; fi
grep -q 'stopped' "$tmp/rebound.log" || die "rebound did not log a clean stop"
pass "rebound stops on SIGTERM; the health check then fails"
stop replica
stop master

# ---------------------------------------------------------------------------------------
# 6. The systemd unit.
# ---------------------------------------------------------------------------------------
printf '[Service]\nExecStart=/bin/true\n' >"$tmp/probe.service"
if ! command -v systemd-analyze >/dev/null ||
    ! timeout 30 systemd-analyze verify --man=no "$tmp/probe.service" >/dev/null 2>&1; then
    say "note: systemd-analyze does not work here; conf/rebound.service not verified"
else
    sed "s|/usr/sbin/rebound|$DEST/usr/sbin/rebound|g" conf/rebound.service >"$tmp/rebound.service"
    if ! out=$(timeout 30 systemd-analyze verify --man=no "$tmp/rebound.service" 2>&1) ||
        [ -n "$out" ]; then
        die "systemd-analyze verify conf/rebound.service: $out"
    fi
    exposure=$(timeout 30 systemd-analyze security --offline=yes "$tmp/rebound.service" 2>/dev/null |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.5) }' ||
        die "systemd-analyze security: exposure ${exposure:-unknown} above 2.5"
    pass "systemd-analyze verify accepts conf/rebound.service (exposure $exposure)"
fi

echo "check-docker: all deployment checks passed"
