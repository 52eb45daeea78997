#!/usr/bin/env bash
# Run `make test` (or the make targets given) with one core kept busy by a spinning loop for
# the whole run: how a slow or shared CI machine sees the tests. The loop is bounded
# (BUSY_SECONDS, default 3600) and stopped by its pid when make ends.
set -euo pipefail
cd "$(dirname "$0")/.."

timeout "${BUSY_SECONDS:-3600}" sh -c 'while :; do :; done' &
busy=$!
trap 'kill "$busy" 2>/dev/null || true' EXIT
echo "test-busy: one core kept busy by pid $busy"
make "${@:-test}"
