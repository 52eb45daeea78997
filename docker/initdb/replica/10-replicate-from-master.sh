#!/bin/bash
# Replica set-up, run once by the mariadb image on an empty data directory (mounted at
# /docker-entrypoint-initdb.d). Waits for the master, starts replicating from the very
# beginning of its binary log (GTID, slave_pos), and waits until everything the master
# had then is applied here - the accounts of initdb/master included - so the replica is
# a complete copy before it reports healthy.
#
# Environment (set in docker-compose.yml): MARIADB_ROOT_PASSWORD, REPL_PASSWORD; optional
# MASTER_HOST (master), MASTER_PORT (3306), REPL_USER (repl), MASTER_WAIT (120 seconds
# for each wait); INITDB_SOCKET, the server's unix socket when it is not the client's
# default (tests/docker/check.sh runs this on the host against 127.0.0.1).
set -euo pipefail

: "${MARIADB_ROOT_PASSWORD:?}" "${REPL_PASSWORD:?}"
MASTER_HOST=${MASTER_HOST:-master}
MASTER_PORT=${MASTER_PORT:-3306}
REPL_USER=${REPL_USER:-repl}
MASTER_WAIT=${MASTER_WAIT:-120}

die() {
    echo "initdb: error: $*" >&2
    exit 1
}

# SQL on the server being initialised, as root over its unix socket.
sql() {
    MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb --protocol=socket -uroot \
        ${INITDB_SOCKET:+"--socket=$INITDB_SOCKET"} "$@"
}

# SQL on the master, as the replication user over TCP.
on_master() {
    MYSQL_PWD=$REPL_PASSWORD mariadb --connect-timeout=5 --protocol=tcp -h"$MASTER_HOST" \
        -P"$MASTER_PORT" -u"$REPL_USER" "$@"
}

# S as an SQL string literal.
lit() {
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}

[[ "$MASTER_PORT" =~ ^[0-9]+$ ]] || die "MASTER_PORT '$MASTER_PORT' is not a number"
[[ "$MASTER_WAIT" =~ ^[0-9]+$ ]] || die "MASTER_WAIT '$MASTER_WAIT' is not a number"

# A real login as the replication user (a bare TCP probe would count as a connect error on
# the master): it succeeds once the master has finished its own initialisation.
echo "initdb: waiting for the master $MASTER_HOST:$MASTER_PORT (at most ${MASTER_WAIT}s)"
deadline=$((SECONDS + MASTER_WAIT))
while ! out=$(on_master -N -B -e 'SELECT @@global.gtid_binlog_pos' 2>&1); do
    [ $SECONDS -lt $deadline ] ||
        die "no login to $MASTER_HOST:$MASTER_PORT as $REPL_USER in ${MASTER_WAIT}s: $out"
    sleep 1
done
pos=$out

echo "initdb: replicating from $MASTER_HOST:$MASTER_PORT, master at GTID '$pos'"
sql <<SQL
CHANGE MASTER TO MASTER_HOST=$(lit "$MASTER_HOST"), MASTER_PORT=$MASTER_PORT,
    MASTER_USER=$(lit "$REPL_USER"), MASTER_PASSWORD=$(lit "$REPL_PASSWORD"),
    MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5;
START SLAVE;
SQL

# MASTER_GTID_WAIT returns 0 once the position is applied, -1 on timeout.
res=$(sql -N -B -e "SELECT MASTER_GTID_WAIT($(lit "$pos"), $MASTER_WAIT)")
if [ "$res" != 0 ]; then
    sql -e 'SHOW SLAVE STATUS\G' >&2 || true
    die "the replica did not catch up with GTID '$pos' in ${MASTER_WAIT}s"
fi
echo "initdb: replica caught up with the master"
