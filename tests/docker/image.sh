#!/usr/bin/env bash
# `make check-image`: build docker/Dockerfile for real and run the image against real MariaDB
# servers, without a Docker engine or an image registry: podman (with runc) builds and runs
# it, and the Debian base images are made here with debootstrap from the package archive.
#
#   1. base images: `debian:12` and `debian:12-slim` from `debootstrap --variant=minbase
#      bookworm` (made once; kept in podman's storage for later runs);
#   2. `podman build -f docker/Dockerfile`: the build stage compiles rebound with
#      docker/build.sh, the runtime stage takes the binary and the shared libraries only;
#   3. a master and a replica (scripts/cluster.sh) on loopback, and the image run with host
#      networking and a config pointing at them: a client lands on the master; the master
#      stops: new clients land on the replica; it comes back: the session still on the
#      replica is closed and new clients land on the master again;
#   4. the image's health check passes (liveness and readiness), and SIGTERM (`podman stop`)
#      ends rebound cleanly (exit status 0).
#
# Everything started here is stopped by its id or pid; the scratch directory is removed on exit
# (KEEP=1 keeps it). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=localhost/rebound:check
WAIT_S=60 # bound for each wait below (a login, a state change)
# runc, not crun (which fails on this kind of machine's cgroups); cgroupfs; explicit limits,
# which runc cannot take from the defaults here.
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
LIMITS=(--ulimit nofile=8192:8192 --ulimit nproc=4096:4096)

say() { echo "check-image: $*"; }
die() {
    echo "check-image: FAIL: $*" >&2
    exit 1
}

tmp=$(mktemp -d /tmp/rebound-image.XXXXXX)
ctr=""
cleanup() {
    if [ -n "$ctr" ]; then
        "${PODMAN[@]}" rm -f "$ctr" >/dev/null 2>&1 || true
    fi
    if [ -f "$tmp/cluster/cluster.env" ]; then scripts/cluster.sh stop "$tmp/cluster" || true; fi
    if [ "${KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
# 0. Tools.
# ---------------------------------------------------------------------------------------
missing=()
for p in podman runc debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
start=$SECONDS

# ---------------------------------------------------------------------------------------
# 1. Base images.
# ---------------------------------------------------------------------------------------
if ! "${PODMAN[@]}" image exists docker.io/library/debian:12; then
    mirror=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources \
        2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    say "making debian:12 with debootstrap from $mirror"
    debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
        { tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
    tar -C "$tmp/rootfs" -c . | "${PODMAN[@]}" import - docker.io/library/debian:12 >/dev/null
    "${PODMAN[@]}" tag docker.io/library/debian:12 docker.io/library/debian:12-slim
    rm -rf "$tmp/rootfs"
fi
say "ok: base images debian:12 and debian:12-slim ($((SECONDS - start)) s so far)"

# ---------------------------------------------------------------------------------------
# 2. The image.
# ---------------------------------------------------------------------------------------
"${PODMAN[@]}" build --network host "${LIMITS[@]}" -f docker/Dockerfile -t "$IMAGE" . \
    >"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log" >&2; die "podman build failed"; }
say "ok: docker/Dockerfile builds ($((SECONDS - start)) s so far)"
libs=$("${PODMAN[@]}" run --rm "${LIMITS[@]}" --entrypoint /bin/sh "$IMAGE" -c \
    'ldd /usr/sbin/rebound' 2>&1) || die "the image's rebound cannot be inspected: $libs"
grep -q "not found" <<<"$libs" && die "the runtime image lacks libraries: $libs"
say "ok: every shared library of the image's rebound is in the image"

# ---------------------------------------------------------------------------------------
# 3. Routing, failover and failback through the container.
# ---------------------------------------------------------------------------------------
scripts/cluster.sh start "$tmp/cluster" 1 >"$tmp/cluster.log" 2>&1 ||
    { cat "$tmp/cluster.log" >&2; die "the MariaDB cluster did not start"; }
# shellcheck disable=SC1091
. "$tmp/cluster/cluster.env"
read -r RW_PORT ADMIN_PORT STATS_PORT <<<"$(scripts/free-ports 3)"
cat >"$tmp/rebound.conf" <<EOF
global
    health-log stderr
    admin 127.0.0.1:$ADMIN_PORT user admin password "image-admin-pass"
    stats 127.0.0.1:$STATS_PORT
defaults
    check mysql user rebound_check password "check-pass"
    inter 500ms  fastinter 200ms  downinter 500ms  rise 2  fall 2  timeout check 5s
    timeout connect 5s  timeout greeting 5s
listen rw
    bind 127.0.0.1:$RW_PORT
    server master  127.0.0.1:$MASTER_PORT  check on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions
    server replica 127.0.0.1:$REPLICA1_PORT check backup
EOF
chmod 0644 "$tmp/rebound.conf"
ctr=$("${PODMAN[@]}" run -d --network host "${LIMITS[@]}" -e REBOUND_STATS_PORT="$STATS_PORT" \
    -v "$tmp/rebound.conf:/etc/rebound/rebound.conf:ro" "$IMAGE") || die "podman run failed"

# The port of the server a new session through the container lands on ("" if none).
landed() {
    MYSQL_PWD=app-pass timeout 20 mariadb --no-defaults --connect-timeout=5 --protocol=tcp \
        -h127.0.0.1 -P"$RW_PORT" -uapp -N -B appdb -e 'SELECT @@port' 2>/dev/null || true
}
# Wait until new sessions land on port $1 (what: $2).
expect_on() {
    local deadline=$((SECONDS + WAIT_S)) got
    while got=$(landed) && [ "$got" != "$1" ]; do
        [ $SECONDS -lt $deadline ] || {
            "${PODMAN[@]}" logs "$ctr" 2>&1 | tail -n 30 >&2
            die "$2: new sessions land on '${got}', want $1"
        }
        sleep 0.2
    done
}
expect_on "$MASTER_PORT" "a first client"
say "ok: the container routes a client to the master"

scripts/cluster.sh stop-one "$tmp/cluster" master >/dev/null
expect_on "$REPLICA1_PORT" "the master stopped"
# A session held on the replica while the master is away.
coproc HELD { MYSQL_PWD=app-pass mariadb --no-defaults --protocol=tcp --skip-reconnect \
    -h127.0.0.1 -P"$RW_PORT" -uapp -N -B -n appdb 2>&1; }
echo 'SELECT @@port;' >&"${HELD[1]}"
read -r -t "$WAIT_S" held_port <&"${HELD[0]}" || die "the held session did not answer"
[ "$held_port" = "$REPLICA1_PORT" ] || die "the held session is on '$held_port', not the replica"
say "ok: with the master stopped, new sessions land on the replica"

scripts/cluster.sh start-one "$tmp/cluster" master >/dev/null
expect_on "$MASTER_PORT" "the master came back"
echo 'SELECT @@port;' >&"${HELD[1]}"
if read -r -t "$WAIT_S" answer <&"${HELD[0]}" && [ "$answer" = "$REPLICA1_PORT" ]; then
    die "the session on the replica survived the master's return"
fi
"${PODMAN[@]}" logs "$ctr" 2>&1 | grep -q "Killed 1 sessions on backup servers of rw after rw/master came UP" ||
    die "no failback line in the container's log"
say "ok: failback: the replica's session was closed, new sessions land on the master"

# ---------------------------------------------------------------------------------------
# 4. Health check and a clean stop.
# ---------------------------------------------------------------------------------------
"${PODMAN[@]}" exec "$ctr" rebound-healthcheck >/dev/null || die "the image's health check fails"
"${PODMAN[@]}" exec "$ctr" rebound-healthcheck --ready >/dev/null ||
    die "the image's readiness check fails"
say "ok: the image's health check (liveness and readiness) passes"
"${PODMAN[@]}" stop -t 30 "$ctr" >/dev/null || die "podman stop failed"
status=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$ctr")
[ "$status" = 0 ] || {
    "${PODMAN[@]}" logs "$ctr" 2>&1 | tail -n 20 >&2
    die "rebound exited with status $status on SIGTERM"
}
say "ok: SIGTERM stops the container's rebound with exit status 0"
say "all image checks passed in $((SECONDS - start)) s"
