#!/usr/bin/env bash
# Install node's mysql2 (pinned) into DIR/node_modules for tests/drivers/mysql2_execute.js,
# unless it is there already. Nothing is vendored: the build directory holds it.
# Exit 0 when installed, 77 when the npm registry cannot be reached (the caller skips), other
# codes on any other failure.
#   tests/drivers/mysql2_install.sh DIR
set -euo pipefail
version=3.11.5
dir=${1:?usage: mysql2_install.sh DIR}
pkg="$dir/node_modules/mysql2/package.json"
if [ -f "$pkg" ] && grep -q "\"version\": \"$version\"" "$pkg"; then
    exit 0
fi
command -v npm >/dev/null || { echo "mysql2_install: npm is not installed (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$dir"
if timeout 300 npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
        "mysql2@$version"; then
    exit 0
fi
if ! timeout 30 npm ping >/dev/null 2>&1; then
    echo "mysql2_install: the npm registry cannot be reached" >&2
    exit 77
fi
echo "mysql2_install: npm install mysql2@$version failed" >&2
exit 1
