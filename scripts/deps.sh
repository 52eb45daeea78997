#!/usr/bin/env bash
# Install the Debian packages rebound needs, if missing: `scripts/deps.sh demo` only what
# `make demo` needs (a compiler, the libraries, MariaDB, python3 for the demo's helpers);
# `scripts/deps.sh` everything to build, test, demo and benchmark.
set -euo pipefail
demo=(build-essential pkg-config libev-dev libssl-dev default-libmysqlclient-dev libsqlite3-dev
      # zlib1g-dev, libzstd-dev: the stream follower decompresses compressed sessions to read them
      zlib1g-dev libzstd-dev
      mariadb-server mariadb-client python3)
pkgs=("${demo[@]}" libcmocka-dev haproxy sysbench clang
      prometheus   # prometheus: promtool, for the /metrics test
      openssl      # openssl: the CLI makes the admin port's test certificates
      # tests/docker and tests/docs: compose validation, name mapping for `rebound -c` of the
      # compose config, man page rendering, logrotate and shell script checks
      docker-compose python3-yaml libnss-wrapper man-db groff-base logrotate shellcheck
      # tests/integ/test_admin_stmt: prepared statements through PHP mysqli (mysqlnd) and through
      # node mysql2, which tests/drivers/mysql2_install.sh fetches with npm into the build dir
      php-cli php-mysql nodejs
      # tests/integ/test_admin_meta: MariaDB Connector/J and a JDK to compile and run
      # tests/drivers/AdminMeta.java against the admin port
      libmariadb-java default-jdk-headless
      # tests/integ/test_tls: PyMySQL logs in over TLS (tests/drivers/tls_select.py), with the
      # system's python3
      python3-pymysql
      # tests/integ/test_stats: the HTML page as a real browser parses and draws it
      chromium)
if [ "${1:-}" = demo ]; then
    pkgs=("${demo[@]}")
fi
# NodeSource's nodejs package brings npm along and conflicts with Debian's npm package.
[ "${1:-}" = demo ] || command -v npm >/dev/null 2>&1 || pkgs+=(npm)
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
