#!/usr/bin/env bash
# Build rebound and install it into a staging tree. The build stage of docker/Dockerfile runs
# this script, and so does CI on the host (tests/docker/check.sh): one way to build, proven
# in both places.
#
# Usage:
#   docker/build.sh --deps-only   install the missing Debian build packages, nothing else
#   docker/build.sh DESTDIR       the same, then `make` and
#                                 `make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR=DESTDIR`
#
# Only what building needs is installed (tests, the demo and benchmarks need more:
# scripts/deps.sh). Installing needs root; a machine that has the packages needs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# zlib1g-dev, libzstd-dev: the stream follower decompresses compressed sessions to read them.
pkgs=(make gcc libc6-dev pkg-config libev-dev libssl-dev libmariadb-dev libsqlite3-dev zlib1g-dev
      libzstd-dev)

install_deps() {
    local p missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "build: missing packages: ${missing[*]} (install them as root)" >&2
        exit 1
    fi
    echo "build: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

case "${1:-}" in
--deps-only)
    [ $# -eq 1 ] || exec "$0"
    install_deps
    ;;
'' | -*)
    sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
*)
    [ $# -eq 1 ] || exec "$0"
    install_deps
    make -j"$(nproc)"
    make install PREFIX=/usr SYSCONFDIR=/etc DESTDIR="$1"
    ;;
esac
