#!/bin/sh
# cli_reason.sh PORT GOFILE - one long-running, interactive mariadb client session, fed on stdin
# with a pause: it asks which server it is on, waits (at most 2 minutes) until GOFILE exists,
# then runs SELECT 1 and asks again. The client runs on a pseudo-terminal (script(1)): only an
# interactive mariadb reconnects by itself when it finds the connection gone (batch mode turns
# --reconnect off), so the output shows the error the closed session read and then the server
# the reconnected session landed on.
port=$1
go=$2
{
    echo "SELECT CONCAT('before port ', @@port) AS at;"
    n=0
    while [ ! -e "$go" ] && [ "$n" -lt 1200 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    echo "SELECT 1;"
    echo "SELECT CONCAT('after port ', @@port) AS at;"
    echo "quit"
} | TERM=dumb /usr/bin/script -qefc "/usr/bin/mariadb -h127.0.0.1 -P$port -uapp -papp-pass \
--skip-ssl --reconnect --connect-timeout=10 appdb" /dev/null
