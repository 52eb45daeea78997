#!/bin/bash
# Master set-up, run once by the mariadb image on an empty data directory (mounted at
# /docker-entrypoint-initdb.d, after the image has set the root password).
#
# Creates the application's database and three accounts:
#   APP_USER       the application, ALL on APP_DATABASE.*
#   CHECK_USER     rebound's health checks: a login, plus SLAVE MONITOR for `expect max-lag`
#   REPL_USER      the replica's replication connection (REPLICATION SLAVE)
# Unlike the image's own root and healthcheck accounts these are written to the binary log
# on purpose: the replica replays them, so it has the same accounts when rebound sends
# checks or, while the master is down, clients there.
#
# Environment (set in docker-compose.yml): MARIADB_ROOT_PASSWORD, APP_PASSWORD,
# CHECK_PASSWORD, REPL_PASSWORD; optional APP_USER (app), APP_DATABASE (appdb),
# CHECK_USER (rebound_check), REPL_USER (repl); INITDB_SOCKET, the server's unix socket
# when it is not the client's default (tests/docker/check.sh runs this on the host).
set -euo pipefail

: "${MARIADB_ROOT_PASSWORD:?}" "${APP_PASSWORD:?}" "${CHECK_PASSWORD:?}" "${REPL_PASSWORD:?}"
APP_USER=${APP_USER:-app}
APP_DATABASE=${APP_DATABASE:-appdb}
CHECK_USER=${CHECK_USER:-rebound_check}
REPL_USER=${REPL_USER:-repl}

# SQL from standard input on the server being initialised, as root over its unix socket.
sql() {
    MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb --protocol=socket -uroot \
        ${INITDB_SOCKET:+"--socket=$INITDB_SOCKET"}
}

# S as an SQL string literal.
lit() {
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}

# S as an SQL identifier.
ident() {
    local q='`'
    printf '%s%s%s' "$q" "${1//$q/$q$q}" "$q"
}

echo "initdb: creating $APP_DATABASE and the accounts $APP_USER, $CHECK_USER, $REPL_USER"
sql <<SQL
CREATE DATABASE IF NOT EXISTS $(ident "$APP_DATABASE");
CREATE USER $(lit "$APP_USER")@'%' IDENTIFIED BY $(lit "$APP_PASSWORD");
GRANT ALL ON $(ident "$APP_DATABASE").* TO $(lit "$APP_USER")@'%';
CREATE USER $(lit "$CHECK_USER")@'%' IDENTIFIED BY $(lit "$CHECK_PASSWORD");
GRANT SLAVE MONITOR ON *.* TO $(lit "$CHECK_USER")@'%';
CREATE USER $(lit "$REPL_USER")@'%' IDENTIFIED BY $(lit "$REPL_PASSWORD");
GRANT REPLICATION SLAVE ON *.* TO $(lit "$REPL_USER")@'%';
SQL
