#!/usr/bin/env bash
# The two sanitizer runs of `make test`, side by side: `make check-asan` and `make check-tsan`
# (their own build trees, clusters and ports). An integration test spends most of its time
# waiting on servers and timeouts, not on a CPU, so together they take little more than the
# longer one; the tests hold on a loaded machine by design (tests/README.md). Each run's output
# goes to build-logs/ and is shown whole when both have ended; the exit status is 0 only if
# both passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

mkdir -p build-logs
make check-asan >build-logs/asan.log 2>&1 &
asan=$!
make check-tsan >build-logs/tsan.log 2>&1 &
tsan=$!
wait "$asan"
rc_asan=$?
wait "$tsan"
rc_tsan=$?
echo "==== make check-asan (exit status $rc_asan)"
cat build-logs/asan.log
echo "==== make check-tsan (exit status $rc_tsan)"
cat build-logs/tsan.log
echo "check-sanitized: AddressSanitizer+UBSan $([ $rc_asan -eq 0 ] && echo passed || echo FAILED)," \
    "ThreadSanitizer $([ $rc_tsan -eq 0 ] && echo passed || echo FAILED)"
[ $rc_asan -eq 0 ] && [ $rc_tsan -eq 0 ]
