#!/bin/bash
# Health check for a rebound container (Dockerfile HEALTHCHECK) or pod (Kubernetes probe).
#
# Asks the stats port for /metrics over HTTP, with nothing but bash (/dev/tcp) and coreutils,
# and passes only on a `200` answer that carries rebound's own metrics: the event loop is
# running and answering, which a bare TCP connect to a port would not prove.
#
# Usage: rebound-healthcheck [--ready]
#   (none)    alive: the process answers (liveness; the image's HEALTHCHECK)
#   --ready   alive, and every listener has at least one usable server (readiness: take
#             this instance out of a load balancer while it could only refuse clients)
# Environment: REBOUND_STATS_HOST (127.0.0.1), REBOUND_STATS_PORT (8404),
#              REBOUND_HEALTH_TIMEOUT (3 seconds for the whole exchange).
# Exit status 0 when healthy, 1 otherwise, with the reason on standard output.
set -uo pipefail

host=${REBOUND_STATS_HOST:-127.0.0.1}
port=${REBOUND_STATS_PORT:-8404}
limit=${REBOUND_HEALTH_TIMEOUT:-3}

# Bound everything (a connect to a dropped address, a peer that never answers) by running
# the script again under timeout(1).
if [ -z "${REBOUND_HEALTH_BOUNDED:-}" ]; then
    REBOUND_HEALTH_BOUNDED=1 timeout "$limit" "$0" "$@"
    rc=$?
    [ $rc -eq 124 ] && echo "unhealthy: no answer from $host:$port within ${limit}s"
    exit $rc
fi

case "${1:-}" in
'' | --ready) ;;
*)
    sed -n '8,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 1
    ;;
esac

if ! exec 3<>"/dev/tcp/$host/$port"; then
    echo "unhealthy: cannot connect to the stats port $host:$port"
    exit 1
fi 2>/dev/null
printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
IFS=$' \r' read -r proto code _ <&3
body=$(cat <&3)
exec 3<&-

if [ "${proto%%/*}" != HTTP ] || [ "$code" != 200 ]; then
    echo "unhealthy: /metrics answered '${proto:-nothing} ${code:-}'"
    exit 1
fi
if ! grep -q '^rebound_build_info{' <<<"$body"; then
    echo "unhealthy: $host:$port answers, but not with rebound's metrics"
    exit 1
fi
if [ "${1:-}" = --ready ]; then
    # rebound_listener_servers_usable{listener="rw",role="active"} 1 - summed per listener.
    empty=$(awk '/^rebound_listener_servers_usable\{/ {
                    match($0, /listener="[^"]*"/); l = substr($0, RSTART + 10, RLENGTH - 11)
                    n[l] += $NF }
                 END { for (l in n) if (n[l] == 0) printf "%s ", l }' <<<"$body")
    if [ -n "$empty" ]; then
        echo "not ready: no usable server for listener(s) ${empty% }"
        exit 1
    fi
fi
echo "healthy"
exit 0
