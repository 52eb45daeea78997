#!/usr/bin/env bash
# Install the Debian packages rebound needs to build, test, demo and benchmark, if missing.
set -euo pipefail
pkgs=(build-essential pkg-config libev-dev libssl-dev default-libmysqlclient-dev
      libsqlite3-dev libcmocka-dev mariadb-server mariadb-client haproxy sysbench clang
      prometheus   # prometheus: promtool, for the /metrics test
      openssl      # openssl: the CLI makes the admin port's test certificates
      # tests/docker and tests/docs: compose validation, name mapping for `rebound -c` of the
      # compose config, man page rendering, logrotate and shell script checks
      docker-compose python3-yaml libnss-wrapper man-db groff-base logrotate shellcheck)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: run as root (or install: ${missing[*]})" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
